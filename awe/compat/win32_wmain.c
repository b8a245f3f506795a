/*
 * awe/compat/win32_wmain.c: the entry point of wide programs (_UNICODE: _tmain is wmain).
 *
 * Only in the static library, and the linker takes it from there only when the program defines
 * no main() of its own: then this main() converts the arguments to wide strings in the user's
 * locale (as the C runtime does on Windows before it calls wmain) and calls the program's
 * wmain().
 */
#include <locale.h>
#include <stdlib.h>
#include <wchar.h>

/* The program's wide entry point. */
int wmain(int argc, wchar_t *argv[]);

/* A wide copy of s (malloc'ed), or NULL if s is not valid in the locale or memory ran out. */
static wchar_t *widen(const char *s)
{
    size_t n = mbstowcs(NULL, s, 0);
    wchar_t *w;

    if (n == (size_t)-1)
        return NULL;
    w = malloc((n + 1) * sizeof(*w));
    if (w != NULL)
        mbstowcs(w, s, n + 1);
    return w;
}

int main(int argc, char *argv[])
{
    wchar_t **wargv;
    int i, rc;

    setlocale(LC_ALL, "");
    wargv = calloc((size_t)argc + 1, sizeof(*wargv));
    if (wargv == NULL)
        return 1;
    for (i = 0; i < argc; i++) {
        wargv[i] = widen(argv[i]);
        if (wargv[i] == NULL)
            return 1;
    }
    rc = wmain(argc, wargv);
    for (i = 0; i < argc; i++)
        free(wargv[i]);
    free(wargv);
    return rc;
}
