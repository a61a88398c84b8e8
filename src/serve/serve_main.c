/* serve_main.c - placeholder until the component lands. */
#include "serve.h"

#include <stdio.h>

int serve_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "sensorpipe serve: not built yet\n");
    return 1;
}
