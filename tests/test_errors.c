/*
 * tests/test_errors.c: the error tables of every namespace, walked from the lists they are made
 * of: awe.h's AWE_ERROR_MAP, plat.h's PLAT_ERROR_MAP and awecache.h's AWC_ERROR_MAP.
 *
 * For each list: every code has a value of its own, a non-empty name that the name function gives
 * back ("AWE_EINVAL") and a non-empty text that the strerror function gives back; values that are
 * no code get the generic text and name. Across lists: every AWE code is the platform code of
 * the same name with the same Win32 number (awe.h repeats plat.h so that it installs alone);
 * eng_err passes every awecache code through unchanged and turns every platform code into an
 * awecache code, the platform's "file locked by another writer" (PLAT_ELOCKED) into AWC_ELOCKED,
 * never into AWC_EBUSY ("every slot is pinned"); a value that two lists share means the same in
 * both (the same name). The Windows-compatible API's table (made from AWE_ERROR_MAP) is checked
 * in wincompat/test_win32.c.
 */
#include "awe.h"
#include "awecache.h"
#include "plat.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* engine/internal.h's: an AWE or platform code to the engine's (reached through the static
 * library, in which awc_* names stay global). */
int eng_err(int rc);

/* One row of a list: the code, its name as the header spells it, its Win32 number (-1: the list
 * has none) and its text. */
struct row {
    int code;
    const char *name;
    long win32;
    const char *text;
};

static const struct row awe_rows[] = {
#define AWE_ROW_(name, value, win32, win32_name, text) {AWE_##name, "AWE_" #name, win32, text},
    AWE_ERROR_MAP(AWE_ROW_)
#undef AWE_ROW_
};

static const struct row plat_rows[] = {
#define PLAT_ROW_(name, value, win32, win32_name, text) {PLAT_##name, "PLAT_" #name, win32, text},
    PLAT_ERROR_MAP(PLAT_ROW_)
#undef PLAT_ROW_
};

static const struct row awc_rows[] = {
#define AWC_ROW_(name, value, text) {AWC_##name, "AWC_" #name, -1, text},
    AWC_ERROR_MAP(AWC_ROW_)
#undef AWC_ROW_
};

#define ROWS(a) (sizeof(a) / sizeof((a)[0]))

/* Values that are no code of any list: near the codes, at the ends of int, positive ones. */
static const int unknown_codes[] = {1, -1000, -1007, -99999, INT_MIN, INT_MAX, 4096};

/* The row of `code` in rows[0..n), or NULL. */
static const struct row *find(const struct row *rows, size_t n, int code)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].code == code)
            return &rows[i];
    return NULL;
}

/* The name after the namespace's prefix ("EINVAL" for "PLAT_EINVAL"). */
static const char *bare(const char *name)
{
    const char *u = strchr(name, '_');

    assert_non_null(u);
    return u + 1;
}

/* Steps:
 * 1. Values: distinct, 0 for the one named *_OK and negative for every other.
 * 2. Names and texts: non-empty, and what the list's functions return for the code.
 * 3. Values that are no code: the generic text and name. */
static void check_list(const struct row *rows, size_t n, const char *(*name_of)(int),
                       const char *(*text_of)(int), const char *generic_text)
{
    /* Step 1 */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++)
            if (rows[i].code == rows[j].code)
                fail_msg("%s and %s share the value %d", rows[i].name, rows[j].name, rows[i].code);
        if (strcmp(bare(rows[i].name), "OK") == 0)
            assert_int_equal(rows[i].code, 0);
        else if (rows[i].code >= 0)
            fail_msg("%s is %d, not a negative value", rows[i].name, rows[i].code);
    }

    /* Step 2 */
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(bare(rows[i].name)) > 0);
        assert_non_null(rows[i].text);
        assert_true(strlen(rows[i].text) > 0);
        assert_string_equal(name_of(rows[i].code), rows[i].name);
        assert_string_equal(text_of(rows[i].code), rows[i].text);
    }

    /* Step 3 */
    for (size_t k = 0; k < ROWS(unknown_codes); k++) {
        assert_null(find(rows, n, unknown_codes[k]));
        assert_string_equal(text_of(unknown_codes[k]), generic_text);
        assert_string_equal(name_of(unknown_codes[k]), "unknown");
    }
}

static void test_awe_list(void **state)
{
    (void)state;
    check_list(awe_rows, ROWS(awe_rows), awe_err_name, awe_strerror, "unknown error");
    for (size_t i = 0; i < ROWS(awe_rows); i++) /* Win32 numbers: 0 for success alone */
        assert_true((awe_rows[i].code == 0) == (awe_rows[i].win32 == 0));
}

static void test_plat_list(void **state)
{
    (void)state;
    check_list(plat_rows, ROWS(plat_rows), plat_err_name, plat_strerror, "unknown error");
    for (size_t i = 0; i < ROWS(plat_rows); i++)
        assert_true((plat_rows[i].code == 0) == (plat_rows[i].win32 == 0));
}

/* Every AWE code is the platform code of the same name, with the same Win32 number. */
static void test_awe_codes_are_platform_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(awe_rows); i++) {
        const struct row *p = find(plat_rows, ROWS(plat_rows), awe_rows[i].code);

        if (p == NULL)
            fail_msg("%s (%d) is no platform code", awe_rows[i].name, awe_rows[i].code);
        assert_string_equal(bare(p->name), bare(awe_rows[i].name));
        assert_int_equal(p->win32, awe_rows[i].win32);
    }
}

/* The awecache list; codes it lacks are described as AWE codes (awecache.h says so). */
static void test_awc_list(void **state)
{
    (void)state;
    check_list(awc_rows, ROWS(awc_rows), awc_err_name, awc_strerror, "unknown error");
    for (size_t i = 0; i < ROWS(awe_rows); i++) {
        if (find(awc_rows, ROWS(awc_rows), awe_rows[i].code) != NULL)
            continue;
        assert_string_equal(awc_strerror(awe_rows[i].code), awe_strerror(awe_rows[i].code));
        assert_string_equal(awc_err_name(awe_rows[i].code), awe_rows[i].name);
    }
}

/* A value two lists share names the same condition in both. */
static void test_shared_values_mean_the_same(void **state)
{
    (void)state;
    for (size_t i = 0; i < ROWS(plat_rows); i++) {
        const struct row *c = find(awc_rows, ROWS(awc_rows), plat_rows[i].code);

        if (c != NULL && strcmp(bare(c->name), bare(plat_rows[i].name)) != 0)
            fail_msg("%s and %s are both %d", plat_rows[i].name, c->name, plat_rows[i].code);
    }
}

/* Steps:
 * 1. Every awecache code passes through eng_err unchanged.
 * 2. Every platform (and so every AWE) code becomes an awecache code; one that is an awecache
 *    code already stays.
 * 3. The lock: PLAT_ELOCKED is AWC_ELOCKED, and no platform code is AWC_EBUSY's value.
 * 4. Values that are no code of any list are AWC_EIO. */
static void test_awc_err(void **state)
{
    (void)state;

    /* Step 1 */
    for (size_t i = 0; i < ROWS(awc_rows); i++)
        if (eng_err(awc_rows[i].code) != awc_rows[i].code)
            fail_msg("eng_err(%s) is %d (%s)", awc_rows[i].name, eng_err(awc_rows[i].code),
                     awc_err_name(eng_err(awc_rows[i].code)));

    /* Step 2 */
    for (size_t i = 0; i < ROWS(plat_rows); i++) {
        int rc = eng_err(plat_rows[i].code);

        if (find(awc_rows, ROWS(awc_rows), rc) == NULL)
            fail_msg("eng_err(%s) is %d, no awecache code", plat_rows[i].name, rc);
        if (find(awc_rows, ROWS(awc_rows), plat_rows[i].code) != NULL)
            assert_int_equal(rc, plat_rows[i].code);
    }

    /* Step 3 */
    assert_int_equal(eng_err(PLAT_ELOCKED), AWC_ELOCKED);
    assert_null(find(plat_rows, ROWS(plat_rows), AWC_EBUSY));
    assert_int_equal(eng_err(PLAT_EDQUOT), AWC_ENOMEM);
    assert_int_equal(eng_err(PLAT_EMFILE), AWC_ENOMEM);
    assert_int_equal(eng_err(PLAT_EISDIR), AWC_EINVAL);
    assert_int_equal(eng_err(PLAT_ENXIO), AWC_EIO);

    /* Step 4 */
    for (size_t k = 0; k < ROWS(unknown_codes); k++)
        assert_int_equal(eng_err(unknown_codes[k]), AWC_EIO);
}

/* Values the public headers have always had: they are ABI and never change. */
static void test_values_are_stable(void **state)
{
    (void)state;
    assert_int_equal(AWE_OK, 0);
    assert_int_equal(AWE_EINVAL, -EINVAL);
    assert_int_equal(AWE_EDQUOT, -EDQUOT);
    assert_int_equal(AWE_EIO, -EIO);
    assert_int_equal(AWC_EBUSY, -EBUSY);
    assert_int_equal(AWC_ECHECKSUM, -1001);
    assert_int_equal(AWC_EBADFILE, -1002);
    assert_int_equal(AWC_ENOTPINNED, -1003);
    assert_int_equal(AWC_ECLOSED, -1004);
    assert_int_equal(AWC_ELOCKED, -1005);
    assert_int_equal(AWC_ENOTFOUND, -1006);
    assert_int_equal(AWC_E2BIG, -E2BIG);
    assert_int_equal(AWC_ERANGE, -ERANGE);
    assert_int_equal(AWC_EFBIG, -EFBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_awe_list),
        cmocka_unit_test(test_plat_list),
        cmocka_unit_test(test_awe_codes_are_platform_codes),
        cmocka_unit_test(test_awc_list),
        cmocka_unit_test(test_shared_values_mean_the_same),
        cmocka_unit_test(test_awc_err),
        cmocka_unit_test(test_values_are_stable),
    };

    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
