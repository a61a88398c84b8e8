/* sim.h - entry point of `sensorpipe sim`. */
#ifndef SP_SIM_H
#define SP_SIM_H

/* Run the subcommand; argv[0] is "sim". Returns the process exit status. */
int sim_main(int argc, char **argv);

#endif
