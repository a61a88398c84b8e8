/* ingest_main.c - placeholder until the component lands. */
#include "ingest.h"

#include <stdio.h>

int ingest_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sensorpipe ingest: not built yet\n");
    return 1;
}
