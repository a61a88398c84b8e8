/* chiptemp.c - RP2040 ADC4 reading <-> temperature in tenths (see chiptemp.h). */
#include "chiptemp.h"

/* num / den rounded to nearest, halves away from zero; den > 0. */
static int64_t chiptemp_div_round(int64_t num, int64_t den)
{
    return num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
}

int32_t chiptemp_dc_from_raw(uint16_t raw)
{
    /* T_dc = 270 - (V_uV - 706000) * 10 / 1721, V_uV = raw * 3300000 / 4096, kept as one fraction */
    int64_t r = raw & CHIPTEMP_RAW_MAX;
    int64_t num = (r * 3300000 - (int64_t)706000 * 4096) * 10;
    return (int32_t)(270 - chiptemp_div_round(num, (int64_t)4096 * 1721));
}

uint16_t chiptemp_raw_from_dc(int32_t temp_dc)
{
    /* raw = V_uV * 4096 / 3300000, V_uV = 706000 - (T_dc - 270) * 1721 / 10 */
    int64_t num = ((int64_t)7060000 - ((int64_t)temp_dc - 270) * 1721) * 4096;
    int64_t raw = chiptemp_div_round(num, 33000000);
    if (raw < 0)
        raw = 0;
    if (raw > CHIPTEMP_RAW_MAX)
        raw = CHIPTEMP_RAW_MAX;
    return (uint16_t)raw;
}
