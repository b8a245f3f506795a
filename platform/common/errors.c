/*
 * platform/common/errors.c: the names and texts of the platform's error codes, made from the one
 * list of them, plat.h's PLAT_ERROR_MAP. Compiled on every OS; it includes no OS header.
 */
#include "plat_io.h"

const char *plat_strerror(int err)
{
    switch (err) {
#define PLAT_TEXT_(name, value, win32, win32_name, text)                                           \
    case PLAT_##name:                                                                              \
        return text;
        PLAT_ERROR_MAP(PLAT_TEXT_)
#undef PLAT_TEXT_
    default:
        return "unknown error";
    }
}

const char *plat_err_name(int err)
{
    switch (err) {
#define PLAT_NAME_(name, value, win32, win32_name, text)                                           \
    case PLAT_##name:                                                                              \
        return "PLAT_" #name;
        PLAT_ERROR_MAP(PLAT_NAME_)
#undef PLAT_NAME_
    default:
        return "unknown";
    }
}

const char *plat_io_strerror(int err)
{
    return plat_strerror(err);
}
