/*
 * device.h - `sensorpipe device add|remove|list`: the broker accounts of devices (and of
 * ingests and the simulator's load mode), made at run time through mosquitto's
 * dynamic-security plugin (account.h), with no restart of the broker.
 */
#ifndef SP_DEVICE_H
#define SP_DEVICE_H

/* Run the subcommand; argv[0] is "device". Returns the process exit status (0, 1 failure, 2 usage). */
int device_main(int argc, char **argv);

#endif
