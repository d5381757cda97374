/* tenantd: command-line entry point. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenantd/audit.h"
#include "tenantd/daemon.h"
#include "tenantd/policy.h"
#include "tenantd/util.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: tenantd serve [options]\n"
            "       tenantd audit [--state-dir DIR] [--tenant T] [--principal ARN] [--action A]\n"
            "                     [--since-ms UNIX-MS] [--limit N]\n"
            "       tenantd template leading-key|key-prefix --table TABLE-ARN\n"
            "       tenantd lint POLICY-FILE\n"
            "\n"
            "  --listen HOST:PORT       API listener (default 127.0.0.1:8900; port 0 = any)\n"
            "  --state-dir DIR          state directory (default ./.tenantd)\n"
            "  --region R               region (default us-east-1)\n"
            "  --account-id N           12-digit account id (default 000000000000)\n"
            "  --max-environments N     node-wide environment limit (default 64)\n"
            "  --idle-timeout SECONDS   reap idle environments after this (default 300)\n"
            "  --init-timeout SECONDS   runtime initialisation limit (default 10)\n"
            "  --node-modules DIR       node_modules holding aws-lambda-ric\n"
            "  --node PATH              node executable (default /usr/bin/node)\n"
            "  --prewarm N              tenant-neutral environments kept ready per PER_TENANT\n"
            "                           function (default 2)\n"
            "  --uid-base N             sandboxes run as uids N .. N+65535 (default 3000000)\n"
            "  --spin-us N              after handing an event to a runtime, poll without\n"
            "                           sleeping for up to N microseconds while its answer is\n"
            "                           awaited (default 50; 0 = always sleep)\n"
            "  --roles FILE             declare IAM roles (JSON; see docs/tenancy-policies.md)\n"
            "  --strict-tenancy         refuse policies that could cross tenants (see the lint)\n"
            "  --allow-no-cgroups       start even when no cgroup controllers are usable\n"
            "                           (environments then have no memory, pids or CPU limits)\n"
            "  --debug                  verbose logs\n");
}

static int parse_listen(const char *arg, struct td_daemon_config *cfg)
{
    const char *colon = strrchr(arg, ':');
    int64_t port;
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(cfg->listen_host))
        return -1;
    if (td_parse_int64(colon + 1, 0, 65535, &port) < 0)
        return -1;
    const char *host = arg;
    size_t len = (size_t)(colon - arg);
    if (host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    memcpy(cfg->listen_host, host, len);
    cfg->listen_host[len] = '\0';
    cfg->listen_port = (uint16_t)port;
    return 0;
}

static int parse_uint(const char *arg, int64_t min, int64_t max, unsigned *out)
{
    int64_t v;
    if (td_parse_int64(arg, min, max, &v) < 0)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int copy_arg(char *dst, size_t size, const char *arg)
{
    if (strlen(arg) >= size)
        return -1;
    memcpy(dst, arg, strlen(arg) + 1);
    return 0;
}

static int parse_options(int argc, char **argv, struct td_daemon_config *cfg)
{
    static const struct option options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"state-dir", required_argument, NULL, 's'},
        {"region", required_argument, NULL, 'r'},
        {"account-id", required_argument, NULL, 'a'},
        {"max-environments", required_argument, NULL, 'm'},
        {"idle-timeout", required_argument, NULL, 'i'},
        {"init-timeout", required_argument, NULL, 'I'},
        {"node-modules", required_argument, NULL, 'n'},
        {"node", required_argument, NULL, 'N'},
        {"uid-base", required_argument, NULL, 'u'},
        {"prewarm", required_argument, NULL, 'p'},
        {"spin-us", required_argument, NULL, 'w'},
        {"roles", required_argument, NULL, 'R'},
        {"strict-tenancy", no_argument, NULL, 'S'},
        {"allow-no-cgroups", no_argument, NULL, 'C'},
        {"debug", no_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'l':
            bad |= parse_listen(optarg, cfg);
            break;
        case 's':
            bad |= copy_arg(cfg->state_dir, sizeof(cfg->state_dir), optarg);
            break;
        case 'r':
            bad |= copy_arg(cfg->region, sizeof(cfg->region), optarg);
            break;
        case 'a':
            bad |= strlen(optarg) != 12 || strspn(optarg, "0123456789") != 12;
            bad |= copy_arg(cfg->account_id, sizeof(cfg->account_id), optarg);
            break;
        case 'm':
            bad |= parse_uint(optarg, 1, 65536, &cfg->max_envs);
            break;
        case 'i':
            bad |= parse_uint(optarg, 1, 86400, &cfg->idle_timeout_s);
            break;
        case 'I':
            bad |= parse_uint(optarg, 1, 900, &cfg->init_timeout_s);
            break;
        case 'n':
            bad |= copy_arg(cfg->node_modules_dir, sizeof(cfg->node_modules_dir), optarg);
            break;
        case 'N':
            bad |= copy_arg(cfg->node_bin, sizeof(cfg->node_bin), optarg);
            break;
        case 'p':
            bad |= parse_uint(optarg, 0, 1000, &cfg->prewarm);
            break;
        case 'w':
            bad |= parse_uint(optarg, 0, 1000, &cfg->spin_us);
            break;
        case 'u':
            bad |= parse_uint(optarg, 65536, 4000000000LL - 65536, &cfg->uid_base);
            break;
        case 'R':
            bad |= copy_arg(cfg->roles_file, sizeof(cfg->roles_file), optarg);
            break;
        case 'S':
            cfg->strict_tenancy = true;
            break;
        case 'C':
            cfg->allow_no_cgroups = true;
            break;
        case 'd':
            cfg->debug = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
        if (bad) {
            fprintf(stderr, "tenantd: invalid value '%s'\n", optarg);
            return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

/* tenantd audit: the refused requests of a node's audit log, one JSON object per line. */
static int cmd_audit(int argc, char **argv)
{
    static const struct option options[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"tenant", required_argument, NULL, 't'},
        {"principal", required_argument, NULL, 'p'},
        {"action", required_argument, NULL, 'a'},
        {"since-ms", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *state = ".tenantd";
    struct td_audit_filter f = {0};
    int64_t v;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 's':
            state = optarg;
            break;
        case 't':
            f.tenant = optarg;
            break;
        case 'p':
            f.principal = optarg;
            break;
        case 'a':
            f.action = optarg;
            break;
        case 'S':
        case 'l':
            if (td_parse_int64(optarg, c == 'S' ? 0 : 1, c == 'S' ? INT64_MAX : TD_AUDIT_MAX_LIMIT,
                               &v) < 0) {
                fprintf(stderr, "tenantd audit: invalid value '%s'\n", optarg);
                return 2;
            }
            if (c == 'S')
                f.since_ms = v;
            else
                f.limit = (size_t)v;
            break;
        default:
            return 2;
        }
    }
    json_t *events = NULL;
    int r = td_audit_query(state, &f, &events);
    if (r < 0) {
        fprintf(stderr, "tenantd audit: %s/audit.log: %s\n", state, strerror(-r));
        return 1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        char *line = json_dumps(e, JSON_COMPACT);
        if (line)
            puts(line);
        free(line);
    }
    json_decref(events);
    return 0;
}

/* tenantd template leading-key|key-prefix --table ARN: a safe tenant session-policy template. */
static int cmd_template(int argc, char **argv)
{
    static const struct option options[] = {{"table", required_argument, NULL, 't'},
                                            {NULL, 0, NULL, 0}};
    const char *table = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c != 't')
            return 2;
        table = optarg;
    }
    const char *layout = optind < argc ? argv[optind] : NULL;
    enum td_policy_layout l;
    if (layout && strcmp(layout, "leading-key") == 0)
        l = TD_POLICY_LAYOUT_LEADING_KEY;
    else if (layout && strcmp(layout, "key-prefix") == 0)
        l = TD_POLICY_LAYOUT_KEY_PREFIX;
    else {
        fprintf(stderr, "usage: tenantd template leading-key|key-prefix --table TABLE-ARN\n");
        return 2;
    }
    char *text = NULL;
    if (!table || td_policy_template_builtin(l, table, &text) < 0) {
        fprintf(stderr, "tenantd template: --table must be a DynamoDB table ARN "
                        "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)\n");
        return 2;
    }
    puts(text);
    free(text);
    return 0;
}

/* tenantd lint FILE: the tenancy lint of a policy document (an identity policy, or a tenant
 * template with ${tenant}); exit status 1 when it has error findings. */
static int cmd_lint(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tenantd lint POLICY-FILE\n");
        return 2;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        fprintf(stderr, "tenantd lint: %s: %s (line %d)\n", argv[1], jerr.text, jerr.line);
        return 2;
    }
    struct td_policy *p = NULL;
    struct td_err err = {0};
    int r = td_policy_parse(text, strlen(text), TD_POLICY_MAX_CHARS_LIMIT, &p, &err);
    free(text);
    if (r < 0) {
        fprintf(stderr, "tenantd lint: %s: %s: %s\n", argv[1], err.type, err.message);
        return 2;
    }
    struct td_policy_lint lint = {0};
    int errors = td_policy_lint(p, &lint);
    for (size_t i = 0; i < lint.n; i++) {
        const struct td_policy_finding *f = &lint.items[i];
        printf("%s %s statement %zu%s%s%s: %s\n", f->id,
               f->severity == TD_POLICY_ERROR ? "error" : "warning", f->statement + 1,
               f->sid ? " (" : "", f->sid ? f->sid : "", f->sid ? ")" : "", f->message);
    }
    if (lint.n == 0)
        printf("no findings\n");
    td_policy_lint_release(&lint);
    td_policy_free(p);
    return errors > 0 ? 1 : errors < 0 ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct td_daemon_config cfg;
    td_daemon_config_defaults(&cfg, "/proc/self/exe");
    if (argc >= 2 && strcmp(argv[1], "audit") == 0)
        return cmd_audit(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "template") == 0)
        return cmd_template(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "lint") == 0)
        return cmd_lint(argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "serve") != 0) {
        usage(stderr);
        return 2;
    }
    if (parse_options(argc - 1, argv + 1, &cfg) < 0) {
        usage(stderr);
        return 2;
    }
    return td_daemon_run(&cfg);
}
