/* ingest.h - entry point of `sensorpipe ingest`. */
#ifndef SP_INGEST_H
#define SP_INGEST_H

/* Run the subcommand; argv[0] is "ingest". Returns the process exit status. */
int ingest_main(int argc, char **argv);

#endif
