# Helpers shared by the bench scripts (sourced, not run).

# cpu_ticks PID: utime+stime of every thread of PID, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() {
    local t=0 f
    for f in /proc/"$1"/task/*/stat; do
        t=$((t + $(awk '{print $14 + $15}' "$f" 2>/dev/null || echo 0)))
    done
    echo $t
}
