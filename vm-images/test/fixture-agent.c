/* TEST FIXTURE, not keyshard-agent: a small static program that the image tests put where the
 * agent goes (TEST_FIXTURE_AGENT=...). It checks that /init passed the expected options, then
 * prints the UEFI event log and the sha256 PCR 4 and 9 values to the serial console between
 * markers, so a test can compare them with measurements.json without the real agent. */
#include <stdio.h>
#include <string.h>
#include <sys/klog.h>

/* Each line is "EL <offset> <hex>", and the byte count follows the end marker, so a reader can
 * tell a complete dump from one a kernel message broke into (the console is shared with printk). */
static void dump_hex(const char *path, const char *begin, const char *end) {
    FILE *f = fopen(path, "rb");
    int c;
    long n = 0;
    printf("%s\n", begin);
    if (f) {
        while ((c = fgetc(f)) != EOF) {
            if (n % 64 == 0) printf("%sEL %06lx ", n ? "\n" : "", n);
            printf("%02x", c);
            n++;
        }
        fclose(f);
    } else {
        printf("MISSING %s\n", path);
    }
    printf("\n%s %ld\n", end, n);
}

static void print_file(const char *label, const char *path) {
    char line[256] = "";
    FILE *f = fopen(path, "r");
    if (f && fgets(line, sizeof line, f)) line[strcspn(line, "\n")] = 0;
    if (f) fclose(f);
    printf("%s %s\n", label, f ? line : "MISSING");
}

/* reproducible-test builds variants that differ only here, as Swift binaries built in different
 * checkouts differ only in .swift_modhash: the image builder must zero it. */
#ifdef MODHASH
__attribute__((used, section(".swift_modhash"))) static const char modhash[] = MODHASH;
#endif

int main(int argc, char **argv) {
    /* Kernel messages (a module's late probe, "random: crng init done") share the serial console
     * and can land inside the dump; only emergencies may print from here on. */
    klogctl(8 /* SYSLOG_ACTION_CONSOLE_LEVEL */, NULL, 1);
    printf("FIXTURE-AGENT argv:");
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    print_file("FIXTURE-AGENT pcr4", "/sys/class/tpm/tpm0/pcr-sha256/4");
    print_file("FIXTURE-AGENT pcr9", "/sys/class/tpm/tpm0/pcr-sha256/9");
    dump_hex("/sys/kernel/security/tpm0/binary_bios_measurements",
             "FIXTURE-AGENT eventlog-begin", "FIXTURE-AGENT eventlog-end");
    printf("FIXTURE-AGENT done\n");
    fflush(stdout);
    return 0;
}
