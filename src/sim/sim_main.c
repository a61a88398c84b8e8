/* sim_main.c - placeholder until the component lands. */
#include "sim.h"

#include <stdio.h>

int sim_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sensorpipe sim: not built yet\n");
    return 1;
}
