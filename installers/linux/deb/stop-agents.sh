# stop_waymark_agents: ask every running agent of this installation to quit, and
# wait for each (built into preinst and prerm by build-deb.sh).
#
# A signal, not a message to each person's session: dpkg often runs with no
# session at all (unattended-upgrades, an MDM, ssh), and the single-instance
# socket of each agent lives in that person's own temporary folder. SIGTERM
# reaches every user's agent from root, and the agent treats it as Quit: it stops
# its sources, flushes its outbox and exits (agent/ui/desktop.py QuitOnSignal;
# the headless runner the same). Processes are chosen by the executable they
# run, this package's /opt/waymark/waymark, and by sharing this system's root,
# so no other program named waymark, and no agent in a container or chroot, is
# touched. An agent still running after 10 s is killed (its outbox survives).
stop_waymark_agents() {
    exe="$(readlink -f "${DPKG_ROOT:-}/opt/waymark/waymark" 2>/dev/null)" || return 0
    [ -e "$exe" ] && [ -d /proc/self ] || return 0
    here="$(stat -L -c %d:%i /)"
    pids=""
    for dir in /proc/[0-9]*; do
        [ "$(readlink "$dir/exe" 2>/dev/null)" = "$exe" ] || continue
        [ "$(stat -L -c %d:%i "$dir/root" 2>/dev/null)" = "$here" ] || continue
        pids="$pids ${dir#/proc/}"
    done
    [ -n "$pids" ] || return 0
    echo "waymark: asking the running agents to quit (pid$pids)"
    # shellcheck disable=SC2086 # one word per pid
    kill -TERM $pids 2>/dev/null || true
    tries=0
    while [ "$tries" -lt 100 ]; do
        alive=""
        for pid in $pids; do
            [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] && alive="$alive $pid"
        done
        [ -n "$alive" ] || return 0
        sleep 0.1
        tries=$((tries + 1))
    done
    echo "waymark: agents still running after 10 s, stopping them (pid$alive)"
    # shellcheck disable=SC2086
    kill -KILL $alive 2>/dev/null || true
}
