# Sourced by every stand-in handler. `serve PORT HANDLER` (busybox `nc -ll -e`) forks one
# handler per TCP connection with the socket on stdin/stdout; this parses the request.
#
# After http_read_request: REQUEST_METHOD, REQUEST_URI, PATH_INFO, QUERY_STRING, BODY and one
# HTTP_<NAME> variable per header (upper case, '-' -> '_'). Header names holding '_' are
# dropped, so `X_Lab_Auth` cannot pose as `X-Lab-Auth`.
CR=$(printf '\r')
set -f

http_read_request() {
    for v in $(env | sed -n 's/^\(HTTP_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
    REQUEST_METHOD='' REQUEST_URI='' PATH_INFO='' QUERY_STRING='' BODY=''
    IFS= read -r -t 10 line || exit 0
    line=${line%"$CR"}
    # shellcheck disable=SC2086 # split "METHOD URI VERSION"
    set -- $line
    REQUEST_METHOD=${1:-GET}
    REQUEST_URI=${2:-/}
    PATH_INFO=${REQUEST_URI%%\?*}
    case $REQUEST_URI in *\?*) QUERY_STRING=${REQUEST_URI#*\?} ;; esac
    while IFS= read -r -t 10 h; do
        h=${h%"$CR"}
        [ -z "$h" ] && break
        name=${h%%:*}
        value=${h#*:}
        value=${value#"${value%%[! ]*}"}
        case $name in '' | *[!A-Za-z0-9-]*) continue ;; esac
        var=HTTP_$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
        eval "$var=\$value"
    done
    len=${HTTP_CONTENT_LENGTH:-0}
    case $len in '' | *[!0-9]*) len=0 ;; esac
    # A handler that sets BODY_FILE first gets the body's exact bytes there (uploads may hold
    # NUL bytes, which a shell variable cannot); BODY is then left empty.
    if [ -n "${BODY_FILE:-}" ]; then
        head -c "$len" >"$BODY_FILE"
    elif [ "$len" -gt 0 ]; then BODY=$(head -c "$len"); fi
}

# http_respond "200 OK" CONTENT_TYPE BODY [HEADER_LINE...]
http_respond() {
    status=$1 ctype=$2 body=$3
    shift 3
    len=$(printf '%s' "$body" | wc -c)
    printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\n' "$status" "$ctype" "$len"
    printf 'Connection: close\r\nServer: homehub-standin\r\n'
    for hdr in "$@"; do printf '%s\r\n' "$hdr"; done
    printf '\r\n'
    [ "$REQUEST_METHOD" = HEAD ] || printf '%s' "$body"
}

# http_respond_file "200 OK" CONTENT_TYPE FILE: the file's bytes as the body.
http_respond_file() {
    len=$(wc -c <"$3")
    printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\n' "$1" "$2" "$len"
    printf 'Connection: close\r\nServer: homehub-standin\r\n\r\n'
    [ "$REQUEST_METHOD" = HEAD ] || cat "$3"
}

# http_json STATUS BODY [HEADER_LINE...] / http_text STATUS BODY [HEADER_LINE...]
http_json() {
    s=$1 b=$2
    shift 2
    http_respond "$s" application/json "$b" "$@"
}
http_text() {
    s=$1 b=$2
    shift 2
    http_respond "$s" 'text/plain; charset=utf-8' "$b" "$@"
}
http_not_found() { http_text "404 Not Found" "404 page not found"; }

# json_field NAME: the string value of "NAME" in $BODY (flat JSON, enough for a stand-in).
json_field() {
    printf '%s' "$BODY" | tr -d '\n' |
        sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p"
}

# env_value NAME: the value of environment variable NAME (names are checked, never eval'd).
env_value() {
    case $1 in '' | *[!A-Za-z0-9_]*) return 1 ;; esac
    env | sed -n "s/^$1=//p" | head -n 1
}

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >&2; }
