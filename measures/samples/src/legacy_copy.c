/* A deliberately unsafe C file: the input that flawfinder scans to produce
 * flawfinder.sarif. Never compiled or shipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int copy_name(char *dst, const char *src) {
    strcpy(dst, src);
    return (int)strlen(dst);
}

void greet(const char *user) {
    char buf[64];
    sprintf(buf, "hello %s", user);
    printf(user);
}

int run(const char *cmd) {
    return system(cmd);
}

int token(void) {
    srand(42);
    return rand();
}

int main(int argc, char **argv) {
    char name[16];
    if (argc > 1) {
        copy_name(name, argv[1]);
        greet(getenv("USER"));
    }
    return run("ls") + token();
}
