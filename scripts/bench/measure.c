/* measure: runs a command N times and prints "median_us min_us max_rss_kb".
 *
 * Small and static on purpose: a child's peak RSS (ru_maxrss) includes the memory of
 * the process that forked it until exec, so the spawner must be tiny for the figure to
 * mean anything. stdin of each run is the file given with -i (or /dev/null).
 *
 * usage: measure -n RUNS [-i FILE] -- command [args...]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = 1, i;
    const char *input = "/dev/null";
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-i") && i + 1 < argc) input = argv[++i];
        else if (!strcmp(argv[i], "--")) { i++; break; }
    }
    if (i >= argc || runs < 1) {
        fprintf(stderr, "usage: measure -n RUNS [-i FILE] -- command [args...]\n");
        return 2;
    }
    long *us = calloc(runs, sizeof(long));
    long maxrss = 0;
    for (int r = 0; r < runs; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid == 0) {
            int in = open(input, O_RDONLY), out = open("/dev/null", O_WRONLY);
            dup2(in, 0);
            dup2(out, 1);
            execv(argv[i], argv + i);
            _exit(127);
        }
        int status;
        struct rusage ru;
        wait4(pid, &status, 0, &ru);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "measure: %s failed (status %d)\n", argv[i], status);
            return 1;
        }
        us[r] = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
        if (ru.ru_maxrss > maxrss) maxrss = ru.ru_maxrss;
    }
    qsort(us, runs, sizeof(long), cmp);
    printf("%ld %ld %ld\n", us[runs / 2], us[0], maxrss);
    return 0;
}
