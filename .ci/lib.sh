# Shared by CI's checks (.ci/main-job, .ci/installed-smoke); sourced, with
# only bash and coreutils (no curl on a minimal root).

# Waits up to $2 seconds for command $1 (a function name) to succeed.
wait_for() {
    local check=$1 timeout=$2 t
    for ((t = 0; t < timeout * 4; t++)); do
        "$check" && return 0
        sleep 0.25
    done
    return 1
}

# GET http://$1:$2$3 with bash's /dev/tcp; prints the status line, headers
# and body.
http_get_from() {
    local host=$1 port=$2 path=$3 reply
    exec 3<>"/dev/tcp/$host/$port" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$path" "$host" "$port" >&3
    reply=$(timeout 10 cat <&3) || true
    exec 3<&- 3>&-
    printf '%s' "$reply"
}
