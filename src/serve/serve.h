/* serve.h - entry point of `sensorpipe serve`. */
#ifndef SP_SERVE_H
#define SP_SERVE_H

/* Run the subcommand; argv[0] is "serve". Returns the process exit status. */
int serve_main(int argc, char **argv);

#endif
