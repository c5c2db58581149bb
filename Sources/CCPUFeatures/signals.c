/* Signals, for what Swift cannot do safely: a handler may only touch a volatile
   sig_atomic_t and call async-signal-safe functions (write, raise), so both handlers
   live here.

   unmask_watch_interrupts: SIGINT and SIGTERM set a flag that a long job (training)
   polls between steps, so it can write a checkpoint and exit cleanly. A second signal
   gets the default action: Ctrl-C twice always stops the program at once.

   unmask_restore_terminal_on_signal: while `generate --show` draws in the terminal's
   alternate screen with the cursor hidden, a Ctrl-C must put the terminal back before
   the program dies, or the user's shell is left on a blank screen with no cursor. */
#include "cpu_features.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t interrupt_received = 0;

static void on_interrupt(int sig) {
    if (interrupt_received) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupt_received = sig;
}

void unmask_watch_interrupts(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_interrupt;
    action.sa_flags = SA_RESTART;  /* reads and writes carry on; the loop checks the flag */
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int unmask_interrupt_received(void) { return interrupt_received; }

static char restore_sequence[64];
static size_t restore_length = 0;

static void restore_terminal_and_die(int sig) {
    if (restore_length > 0) {
        ssize_t ignored = write(STDOUT_FILENO, restore_sequence, restore_length);
        (void)ignored;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void unmask_restore_terminal_on_signal(const char *sequence) {
    size_t n = strlen(sequence);
    if (n >= sizeof restore_sequence) n = sizeof restore_sequence - 1;
    memcpy(restore_sequence, sequence, n);
    restore_length = n;
    signal(SIGINT, restore_terminal_and_die);
    signal(SIGTERM, restore_terminal_and_die);
    signal(SIGHUP, restore_terminal_and_die);
}

void unmask_stop_restoring_terminal(void) {
    restore_length = 0;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
}
