#!/bin/sh
# regauth's container entrypoint: check that the data folder is usable by the user the
# container runs as, and say what to do when it is not (instead of a restart loop); with
# REGAUTH_TRUST_DIR set, put the files the registry must trust (bundle.pem, jwks.json) there;
# then run the command.
set -eu

data_dir="${REGAUTH_DATA_DIR:-}"
previous=""
for argument in "$@"; do
    case "$previous" in --data-dir) data_dir="$argument" ;; esac
    case "$argument" in --data-dir=*) data_dir="${argument#--data-dir=}" ;; esac
    previous="$argument"
done

say() {
    echo "regauth: $*" >&2
}

if [ -n "$data_dir" ]; then
    uid="$(id -u)"
    gid="$(id -g)"
    if [ ! -e "$data_dir" ]; then
        mkdir -p -m 700 "$data_dir" 2>/dev/null || {
            say "cannot create the data folder $data_dir as uid $uid: mount a volume there"
            exit 2
        }
    fi
    if [ ! -d "$data_dir" ] || [ ! -w "$data_dir" ] || [ ! -x "$data_dir" ] || [ ! -r "$data_dir" ]; then
        owner="$(stat -c '%u:%g, mode %a' "$data_dir" 2>/dev/null || echo unknown)"
        say "data folder $data_dir is not usable by uid $uid gid $gid (it belongs to $owner):" \
            "use a named volume (docker and podman give it the image's owner), or on the host" \
            "chown -R $uid:$gid FOLDER (rootless podman: podman unshare chown -R $uid:$gid FOLDER)"
        exit 2
    fi
    for file in "$data_dir"/regauth.db "$data_dir"/regauth.db-wal "$data_dir"/regauth.db-shm; do
        if [ -e "$file" ] && [ ! -w "$file" ]; then
            say "$file is not writable by uid $uid: chown -R $uid:$gid the data folder on the host"
            exit 2
        fi
    done
fi

if [ -n "${REGAUTH_TRUST_DIR:-}" ]; then
    # regauth registry-config reads REGAUTH_CONFIG and REGAUTH_DATA_DIR like serve does
    if ! problem="$(regauth registry-config --out "$REGAUTH_TRUST_DIR" 2>&1 >/dev/null)"; then
        say "could not write the registry's trust files into $REGAUTH_TRUST_DIR:"
        echo "$problem" >&2
        exit 2
    fi
fi

exec "$@"
