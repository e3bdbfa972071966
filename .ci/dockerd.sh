#!/usr/bin/env bash
# Start/stop a private Docker engine for the rehearsal harness.
#
#   bash .ci/dockerd.sh start    # install docker.io+debootstrap if needed, start, print the export line
#   bash .ci/dockerd.sh stop     # stop that daemon and wait for it to exit
#   bash .ci/dockerd.sh status   # exit 0 if the daemon answers
#   eval "$(bash .ci/dockerd.sh start)"      # start and set DOCKER_HOST in this shell
#   source .ci/dockerd.sh start              # same, when sourced (exports DOCKER_HOST)
#
# The daemon never touches the host network: no iptables rules, no docker0 bridge.
# Containers can therefore only use `--network host` (everything on 127.0.0.1) or `--network none`.
# It has its own socket, pid file, data root and exec root, so it coexists with any other engine.
#
# Overridable through the environment (defaults shown):
#   REHEARSE_DOCKER_SOCK=/run/rehearse-docker.sock
#   REHEARSE_DOCKER_PIDFILE=/run/rehearse-dockerd.pid
#   REHEARSE_DOCKER_DATA=/var/lib/rehearse-docker
#   REHEARSE_DOCKER_EXEC=/run/rehearse-docker-exec
#   REHEARSE_DOCKER_LOG=/tmp/rehearse-dockerd.log
#   REHEARSE_DOCKER_TIMEOUT=30        (seconds to wait for the daemon to answer / to exit)
# Messages go to stderr; only the `export DOCKER_HOST=...` line goes to stdout.

_rehearse_dockerd_main() (
    set -euo pipefail

    sock=${REHEARSE_DOCKER_SOCK:-/run/rehearse-docker.sock}
    pidfile=${REHEARSE_DOCKER_PIDFILE:-/run/rehearse-dockerd.pid}
    data_root=${REHEARSE_DOCKER_DATA:-/var/lib/rehearse-docker}
    exec_root=${REHEARSE_DOCKER_EXEC:-/run/rehearse-docker-exec}
    log=${REHEARSE_DOCKER_LOG:-/tmp/rehearse-dockerd.log}
    timeout=${REHEARSE_DOCKER_TIMEOUT:-30}
    config=${exec_root}.json
    host="unix://${sock}"

    say() { echo "dockerd.sh: $*" >&2; }

    # Prefer the CLI on PATH (/usr/local/bin/docker, newer than the engine; it negotiates the API
    # version down); Debian's /usr/bin/docker comes with docker.io and works as well.
    docker_cli() {
        if command -v docker >/dev/null 2>&1; then
            docker -H "$host" "$@"
        else
            /usr/bin/docker -H "$host" "$@"
        fi
    }

    answers() { [ -S "$sock" ] && docker_cli version >/dev/null 2>&1; }

    daemon_pid() {
        local pid
        [ -s "$pidfile" ] || return 1
        pid=$(cat "$pidfile" 2>/dev/null) || return 1
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
        # Only ever signal a dockerd process (a stale pid file may name an unrelated pid).
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
        echo "$pid"
    }

    install_packages() {
        local want=()
        command -v dockerd >/dev/null 2>&1 || want+=(docker.io)
        command -v debootstrap >/dev/null 2>&1 || want+=(debootstrap)
        [ ${#want[@]} -eq 0 ] && return 0
        say "installing ${want[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        # Never let a package's maintainer scripts start a system-wide dockerd/containerd:
        # that one would create docker0 and iptables rules.  Use a temporary policy-rc.d
        # when the machine has none.
        local made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            made_policy=1
        fi
        local rc=0
        {
            apt-get update -qq &&
                apt-get install -y -qq --no-install-recommends \
                    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${want[@]}"
        } >&2 || rc=$?
        [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
        if [ "$rc" != 0 ]; then
            say "apt-get failed (exit $rc)"
            return "$rc"
        fi
        command -v dockerd >/dev/null 2>&1 || { say "dockerd still missing after install"; return 1; }
    }

    start() {
        if answers; then
            say "daemon already answers on $sock"
            echo "export DOCKER_HOST=$host"
            return 0
        fi
        local pid
        if ! pid=$(daemon_pid); then
            install_packages
            mkdir -p "$data_root" "$exec_root" "$(dirname "$sock")" "$(dirname "$pidfile")"
            # A private (empty) config file so that an /etc/docker/daemon.json meant for another
            # engine (hosts, bridges, iptables...) cannot leak into this one.
            [ -s "$config" ] || echo '{}' >"$config"
            rm -f "$sock"
            say "starting dockerd on $sock (log: $log)"
            # setsid + nohup: the daemon must outlive this script and the calling shell/job.
            # Its supervised containerd lives under the exec/data roots, isolated from any
            # system containerd.
            setsid nohup dockerd \
                --config-file "$config" \
                --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
                --host "$host" \
                --pidfile "$pidfile" \
                --data-root "$data_root" \
                --exec-root "$exec_root" \
                >>"$log" 2>&1 </dev/null &
            pid=$!
        else
            say "dockerd (pid $pid) is running but not answering yet; waiting"
        fi
        local deadline=$((SECONDS + timeout))
        until answers; do
            if ! kill -0 "$pid" 2>/dev/null && ! daemon_pid >/dev/null; then
                say "dockerd exited during start-up; last log lines:"
                tail -n 30 "$log" >&2 || true
                return 1
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                say "dockerd did not answer within ${timeout}s; last log lines:"
                tail -n 30 "$log" >&2 || true
                return 1
            fi
            sleep 0.2
        done
        say "daemon ready: $(docker_cli version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || echo '?')"
        echo "export DOCKER_HOST=$host"
    }

    stop() {
        local pid
        if ! pid=$(daemon_pid); then
            say "no private dockerd running (pid file $pidfile)"
            return 0
        fi
        say "stopping dockerd pid $pid"
        kill -TERM "$pid"
        # dockerd stops its containers (15 s grace each, in parallel) and its containerd.
        local deadline=$((SECONDS + timeout + 15))
        while kill -0 "$pid" 2>/dev/null; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                say "dockerd pid $pid did not exit in time; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                sleep 1
                break
            fi
            sleep 0.2
        done
        say "stopped"
    }

    case "${1:-}" in
        start) start ;;
        stop) stop ;;
        restart) stop && start ;;
        status)
            if answers; then
                say "answers on $sock"
                echo "export DOCKER_HOST=$host"
            else
                say "not answering on $sock"
                return 1
            fi
            ;;
        *)
            echo "usage: $0 start|stop|restart|status" >&2
            return 2
            ;;
    esac
)

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: run the command and apply the export line to the caller's shell.
    if _rehearse_dockerd_out=$(_rehearse_dockerd_main "$@"); then
        [ -n "$_rehearse_dockerd_out" ] && eval "$_rehearse_dockerd_out" && echo "$_rehearse_dockerd_out"
        unset _rehearse_dockerd_out
    else
        _rehearse_dockerd_rc=$?
        unset _rehearse_dockerd_out
        # shellcheck disable=SC2317  # reached when sourced
        return "$_rehearse_dockerd_rc" 2>/dev/null || true
    fi
else
    _rehearse_dockerd_main "$@"
fi
