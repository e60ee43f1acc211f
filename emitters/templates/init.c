/* faktory microVM init: PID 1 of the Linux initramfs built from a closure.
 *
 * Reads /.faktory/launch (NUL-separated records: "W<workdir>", "E<KEY=VALUE>", "A<arg>", "K<module.ko>",
 * "S<seed file>", "T" for a terminal, "U<uid>:<gid>:<group,...>" for the image's USER, "H<hostname>"), prepares /dev /proc /sys /tmp, loads the NIC module, brings up lo and eth0
 * (QEMU user networking: 10.0.2.15/24 via 10.0.2.2), seeds the entropy pool, runs the app as a child, reaps
 * orphans, prints the exit status on the console and powers the machine off.
 *
 * The app's stdio is what `docker run IMAGE` gives (no -i, no -t): stdin /dev/null, stdout and stderr a pipe,
 * which PID 1 copies to the console. A console tty would make apps colour their output, page it or wait for
 * keys where the container does none of that. "T" keeps the console as the app's terminal (`docker run -it`).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <fcntl.h>
#include <linux/random.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ITEMS 512

/* "uid:gid:g1,g2,...": the image's USER as docker run resolves it (supplementary groups may be none). */
static int drop_to_user(const char *spec) {
    static gid_t groups[MAX_ITEMS];
    char *end;
    size_t n = 0;
    unsigned long uid = strtoul(spec, &end, 10);
    if (*end != ':') { errno = EINVAL; return -1; }
    unsigned long gid = strtoul(end + 1, &end, 10);
    if (*end != ':') { errno = EINVAL; return -1; }
    for (const char *p = end + 1; *p && n < MAX_ITEMS; p = *end ? end + 1 : end) {
        groups[n++] = (gid_t)strtoul(p, &end, 10);
        if (*end && *end != ',') { errno = EINVAL; return -1; }
    }
    if (setgroups(n, groups) != 0 || setgid((gid_t)gid) != 0 || setuid((uid_t)uid) != 0) return -1;
    return 0;
}

static void say(const char *msg) { fprintf(stderr, "faktory-init: %s\n", msg); }

static void die(const char *what) {
    fprintf(stderr, "faktory-init: %s: %s\n", what, strerror(errno));
    fflush(stderr);
    sync();
    reboot(RB_POWER_OFF);
    _exit(1);
}

static void ensure_node(const char *path, mode_t mode, int major, int minor) {
    struct stat st;
    if (stat(path, &st) == 0) return;
    mknod(path, mode, makedev(major, minor));
}

static void mount_basics(void) {
    mkdir("/dev", 0755);
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, "mode=0755") != 0 &&
        mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755") != 0)
        say("cannot mount /dev");
    ensure_node("/dev/console", S_IFCHR | 0600, 5, 1);
    ensure_node("/dev/null", S_IFCHR | 0666, 1, 3);
    ensure_node("/dev/zero", S_IFCHR | 0666, 1, 5);
    ensure_node("/dev/random", S_IFCHR | 0666, 1, 8);
    ensure_node("/dev/urandom", S_IFCHR | 0666, 1, 9);
    ensure_node("/dev/tty", S_IFCHR | 0666, 5, 0);
    mkdir("/dev/shm", 01777);
    mount("tmpfs", "/dev/shm", "tmpfs", 0, "mode=1777");
    mkdir("/dev/pts", 0755);
    mount("devpts", "/dev/pts", "devpts", 0, NULL);
    symlink("/proc/self/fd", "/dev/fd");
    symlink("/proc/self/fd/0", "/dev/stdin");
    symlink("/proc/self/fd/1", "/dev/stdout");
    symlink("/proc/self/fd/2", "/dev/stderr");
    mkdir("/proc", 0555);
    mount("proc", "/proc", "proc", 0, NULL);
    mkdir("/sys", 0555);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    /* No tmpfs over /tmp: the initramfs is writable already, and what the image has in /tmp stays visible,
       as in the container. */
    if (mkdir("/tmp", 01777) == 0) chmod("/tmp", 01777);
    mkdir("/run", 0755);
}

/* The app talks on ttyS0; the kernel's console (its log, kept for a post-mortem) is ttyS1. */
static void console_stdio(void) {
    int fd = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
    if (fd < 0) fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0) return;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2) close(fd);
}

static void seed_entropy(const char *path) {
    unsigned char buf[512];
    int in = open(path, O_RDONLY);
    if (in < 0) return;
    ssize_t n = read(in, buf, sizeof buf);
    close(in);
    if (n <= 0) return;
    struct { int entropy_count; int buf_size; unsigned char buf[512]; } req;
    req.entropy_count = (int)n * 8;
    req.buf_size = (int)n;
    memcpy(req.buf, buf, (size_t)n);
    int fd = open("/dev/urandom", O_WRONLY);
    if (fd < 0) return;
    if (ioctl(fd, RNDADDENTROPY, &req) != 0) write(fd, buf, (size_t)n);
    close(fd);
}

static void load_module(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { fprintf(stderr, "faktory-init: %s: %s\n", path, strerror(errno)); return; }
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
        fprintf(stderr, "faktory-init: load %s: %s\n", path, strerror(errno));
    close(fd);
}

static void set_addr(int sock, const char *ifname, unsigned long req, const char *addr) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &sin->sin_addr);
    ioctl(sock, req, &ifr);
}

static int link_up(int sock, const char *ifname) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(sock, SIOCSIFFLAGS, &ifr);
}

static void network_up(void) {
    int sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (sock < 0) return;
    link_up(sock, "lo");
    if (link_up(sock, "eth0") == 0) {
        set_addr(sock, "eth0", SIOCSIFADDR, "10.0.2.15");
        set_addr(sock, "eth0", SIOCSIFNETMASK, "255.255.255.0");
        link_up(sock, "eth0");
        struct rtentry rt;
        memset(&rt, 0, sizeof rt);
        struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway;
        gw->sin_family = AF_INET;
        inet_pton(AF_INET, "10.0.2.2", &gw->sin_addr);
        ((struct sockaddr_in *)&rt.rt_dst)->sin_family = AF_INET;
        ((struct sockaddr_in *)&rt.rt_genmask)->sin_family = AF_INET;
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        ioctl(sock, SIOCADDRT, &rt);
    }
    close(sock);
}

/* Copy what the app writes to the console until it exits (and a moment for what its last write left in the
 * pipe); reap every orphan meanwhile. A daemon the app left behind holding the pipe does not keep us here. */
/* Docker gives the container a host name and maps it to the container's address in /etc/hosts: apps resolve
 * their own name (gethostbyname(gethostname()), celery's node names, dask), which fails with "(none)". */
static void set_hostname(const char *name) {
    if (sethostname(name, strlen(name)) != 0) { say("sethostname failed"); return; }
    mkdir("/etc", 0755);
    FILE *hosts = fopen("/etc/hosts", "a");
    if (hosts) { fprintf(hosts, "10.0.2.15\t%s\n", name); fclose(hosts); }
}

/* Docker mounts the host's resolv.conf over the image's, which holds whatever its build saw (or nothing): the
 * VM's counterpart is QEMU's user-network resolver, which forwards to the host's. */
static void ensure_resolver(void) {
    mkdir("/etc", 0755);
    unlink("/etc/resolv.conf");  /* also a link to a resolver daemon's file */
    FILE *conf = fopen("/etc/resolv.conf", "w");
    if (conf) { fputs("nameserver 10.0.2.3\n", conf); fclose(conf); }
}

static int run_until_exit(pid_t child, int from, int writer) {
    static char buf[65536];
    int status = 0, code = 1, done = 0;
    if (writer >= 0) close(writer);
    while (!done) {
        pid_t pid;
        while ((pid = waitpid(-1, &status, from < 0 ? 0 : WNOHANG)) > 0) {
            if (pid == child) {
                code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                done = 1;
                break;
            }
        }
        if (pid < 0 && errno == ECHILD) done = 1;
        if (from < 0) continue;
        struct pollfd pfd = {from, POLLIN, 0};
        while (poll(&pfd, 1, done ? 0 : 100) > 0) {
            ssize_t n = read(from, buf, sizeof buf);
            if (n <= 0) { close(from); from = -1; break; }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(1, buf + off, (size_t)(n - off));
                if (w <= 0) break;
                off += w;
            }
        }
    }
    return code;
}

int main(void) {
    static char *args[MAX_ITEMS + 1], *envs[MAX_ITEMS + 1];
    int nargs = 0, nenvs = 0;
    const char *workdir = "/";
    const char *seed = NULL;
    const char *user = NULL;
    const char *hostname = NULL;
    int tty = 0;

    mount_basics();
    console_stdio();

    int fd = open("/.faktory/launch", O_RDONLY);
    if (fd < 0) die("/.faktory/launch");
    static char conf[1 << 20];
    ssize_t len = read(fd, conf, sizeof conf - 1);
    close(fd);
    if (len <= 0) die("read /.faktory/launch");
    conf[len] = '\0';
    for (char *p = conf; p < conf + len; p += strlen(p) + 1) {
        switch (p[0]) {
        case 'W': workdir = p + 1; break;
        case 'E': if (nenvs < MAX_ITEMS) envs[nenvs++] = p + 1; break;
        case 'A': if (nargs < MAX_ITEMS) args[nargs++] = p + 1; break;
        case 'K': load_module(p + 1); break;
        case 'S': seed = p + 1; break;
        case 'T': tty = 1; break;
        case 'U': user = p + 1; break;
        case 'H': hostname = p + 1; break;
        }
    }
    args[nargs] = NULL;
    envs[nenvs] = NULL;
    if (nargs == 0) { errno = EINVAL; die("no argv in /.faktory/launch"); }
    if (seed) seed_entropy(seed);
    network_up();
    ensure_resolver();
    if (hostname && *hostname) set_hostname(hostname);

    int out[2] = {-1, -1};
    if (!tty && pipe2(out, O_CLOEXEC) != 0) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        /* Never power off from here: report and let PID 1 print the status. */
        if (!tty) {
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0) { dup2(null, 0); if (null > 0) close(null); }
            dup2(out[1], 1);
            dup2(out[1], 2);
        }
        /* The open-file limits docker run gives (soft 1024, hard 524288), not the kernel's 1024 hard for PID 1:
           apps raise the soft limit themselves when the hard one allows (locust to 10000, else it warns). */
        struct rlimit files = {1024, 524288};
        setrlimit(RLIMIT_NOFILE, &files);
        if (user && drop_to_user(user) != 0) {
            fprintf(stderr, "faktory-init: run as %s: %s\n", user, strerror(errno));
            _exit(126);
        }
        if (chdir(workdir) != 0) { fprintf(stderr, "faktory-init: chdir %s: %s\n", workdir, strerror(errno)); _exit(126); }
        environ = envs;
        execvpe(args[0], args, envs);
        fprintf(stderr, "faktory-init: exec %s: %s\n", args[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    int code = run_until_exit(child, tty ? -1 : out[0], out[1]);
    fflush(stdout);
    fprintf(stderr, "\nfaktory-init: exit status %d\n", code);
    fflush(stderr);
    sync();
    reboot(RB_POWER_OFF);
    return code;
}
