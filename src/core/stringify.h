/*
 * stringify.h - SP_STR(x): a macro's value as a string literal, for building SQL and messages
 * from numeric constants at compile time (e.g. "LIMIT " SP_STR(WS_PAGE_ROWS)).
 */
#ifndef SP_CORE_STRINGIFY_H
#define SP_CORE_STRINGIFY_H

#define SP_STR_(x) #x
#define SP_STR(x) SP_STR_(x)

#endif
