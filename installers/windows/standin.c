/* Stand-in for waymark.exe / waymark-cli.exe in the MSI tests (installers/standin.py).
 *
 * The real Windows agent is frozen by PyInstaller on Windows (the release
 * pipeline); on Linux the MSI is built and installed under Wine around this
 * tiny PE instead, built with mingw-w64. It answers --version like the agent,
 * and `run` appends a line to %PUBLIC%\waymark-standin-runs.txt so that a test
 * can tell whether (and by what) the agent was started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WAYMARK_VERSION
#define WAYMARK_VERSION "0.0.0"
#endif

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("waymark %s (stand-in)\n", WAYMARK_VERSION);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "run") == 0) {
        const char *public_dir = getenv("PUBLIC");
        char path[1024];
        FILE *log;
        if (public_dir == NULL) return 3;
        snprintf(path, sizeof path, "%s\\waymark-standin-runs.txt", public_dir);
        log = fopen(path, "a");
        if (log == NULL) return 4;
        fprintf(log, "run %s\n", WAYMARK_VERSION);
        fclose(log);
        return 0;
    }
    fprintf(stderr, "waymark stand-in: only --version and run work here\n");
    return 2;
}
