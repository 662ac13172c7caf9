# kp_safe_dir DIR MODE: makes sure DIR is a folder of this user's that nobody else can replace, creating it (and any
# missing folder above it) with `install -d -m MODE`, or fails naming it. Sourced by eng/env.sh, eng/bench.sh and
# ./run.sh: the scripts run as root, and root follows a symbolic link another user planted (mkdir -p, chown -R, >> log).
# Refused: a symbolic link, something that is not a folder, a folder owned by another user, and a folder that others
# may write in (they could swap what is inside it); the same checks for the folder above it (which may be sticky, like
# /tmp, for a folder that exists already and is ours, not for one to be made).
kp_safe_dir() {
  local dir="$1" mode="$2" parent
  [ -n "$dir" ] || { echo "safe-dir: ERROR: no folder given" >&2; return 1; }
  parent="$(dirname -- "$dir")"
  if [ "$parent" != "$dir" ] && [ "$parent" != / ] && [ ! -e "$parent" ]; then
    kp_safe_dir "$parent" 755 || return 1
  fi
  if [ -e "$dir" ] || [ -L "$dir" ]; then
    # An existing folder of ours may sit in a sticky folder (/tmp): nobody else can rename or remove it there.
    [ "$parent" = "$dir" ] || [ "$parent" = / ] || _kp_check_dir "$parent" sticky-ok || return 1
    _kp_check_dir "$dir" || return 1
  else
    # A new one may not: another user could create the name first.
    [ "$parent" = "$dir" ] || [ "$parent" = / ] || _kp_check_dir "$parent" || return 1
    install -d -m "$mode" -- "$dir" || { echo "safe-dir: ERROR: could not create $dir" >&2; return 1; }
  fi
}

# _kp_check_dir DIR [sticky-ok]: DIR is a real folder of this user's (or root's) that others may not write in.
_kp_check_dir() {
  local dir="$1" owner perms
  if [ -L "$dir" ]; then
    echo "safe-dir: ERROR: $dir is a symbolic link (to $(readlink -- "$dir")): refusing to use it; remove it or choose another folder" >&2
    return 1
  fi
  [ -d "$dir" ] || { echo "safe-dir: ERROR: $dir is not a folder: refusing to use it" >&2; return 1; }
  owner="$(stat -c %u -- "$dir")"
  if [ "$owner" != "$(id -u)" ] && [ "$owner" != 0 ]; then
    echo "safe-dir: ERROR: $dir belongs to $(stat -c %U -- "$dir"), not $(id -un): refusing to use it" >&2
    return 1
  fi
  perms="$(stat -c %a -- "$dir")"
  if [ $(( 0$perms & 022 )) -ne 0 ] && ! { [ "${2:-}" = sticky-ok ] && [ $(( 0$perms & 01000 )) -ne 0 ]; }; then
    echo "safe-dir: ERROR: $dir may be written by other users (mode $perms): refusing to use it" >&2
    return 1
  fi
}
