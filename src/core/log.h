/* log.h - levelled logging to stderr, one line per event, with a component tag. */
#ifndef SP_LOG_H
#define SP_LOG_H

/* LOG_SILENT prints nothing (fuzz targets, where every input would log). */
enum log_level { LOG_SILENT = -1, LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Set the component tag ("ingest", "serve", ...) and the most verbose level printed. */
void log_init(const char *component, enum log_level level);
/* Parse "error|warn|info|debug"; returns -1 when unknown. */
int log_level_parse(const char *name);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
