/*
 * prompt_probe.so — a test-only PAM module for tests/front_doors/sshd.sh (never installed).
 *
 * Sends the contents of a file as ONE PAM_PROMPT_ECHO_ON prompt (the way first-sign-in
 * enrollment sends its QR code) and writes the reply to another file, so the test can see what
 * the real OpenSSH client makes of a long, multi-line prompt with Unicode half blocks and ANSI
 * escapes, and whether the reply comes back. Returns PAM_SUCCESS when a reply came.
 *
 *     auth required /path/prompt_probe.so text=/path/prompt.txt reply=/path/reply.txt
 *
 * Built by the test: gcc -shared -fPIC -o prompt_probe.so prompt_probe.c -lpam
 */
#define PAM_SM_AUTH
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *arg(int argc, const char **argv, const char *key)
{
    size_t n = strlen(key);
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    return NULL;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    const char *text_path = arg(argc, argv, "text"), *reply_path = arg(argc, argv, "reply");
    if (!text_path || !reply_path)
        return PAM_SERVICE_ERR;
    FILE *f = fopen(text_path, "r");
    if (!f)
        return PAM_SERVICE_ERR;
    static char text[1 << 20];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';

    char *reply = NULL;
    int rc = pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &reply, "%s", text);
    FILE *out = fopen(reply_path, "w");
    if (out) {
        fprintf(out, "rc=%d\nreply=%s\n", rc, reply ? reply : "(none)");
        fclose(out);
    }
    int ok = rc == PAM_SUCCESS && reply != NULL;
    free(reply);
    return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh, (void)flags, (void)argc, (void)argv;
    return PAM_SUCCESS;
}
