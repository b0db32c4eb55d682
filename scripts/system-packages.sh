# Sourced by scripts/test-env.sh and scripts/system-libs.sh: install Debian packages only when allowed, and
# always say what is missing and the exact command first.
#
# Allowed: CAVRA_INSTALL_SYSTEM_PACKAGES=1, or running as root under CI (CI=true or 1; .ci/run sets
# CAVRA_INSTALL_SYSTEM_PACKAGES=1 itself). CAVRA_INSTALL_SYSTEM_PACKAGES=0 forbids it everywhere.
# Otherwise the command is printed and the caller fails (or, with --optional callers, warns).

system_packages_allowed() {
  case "${CAVRA_INSTALL_SYSTEM_PACKAGES:-}" in
    1 | yes | true) return 0 ;;
    0 | no | false) return 1 ;;
  esac
  case "${CI:-}" in true | 1) [ "$(id -u)" = 0 ] ;; *) return 1 ;; esac
}

system_packages_command() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo "
  echo "${sudo}apt-get update && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y $*"
}

# system_packages_install WHO WHAT PACKAGE...: WHAT says why they are needed. Returns 1 when not installed.
system_packages_install() {
  local who=$1 what=$2
  shift 2
  local command
  command=$(system_packages_command "$@")
  if ! system_packages_allowed; then
    {
      echo "$who: missing system packages: $*"
      echo "$who: needed for: $what"
      echo "$who: install them with:"
      echo "    $command"
      echo "$who: or let this script run that command: CAVRA_INSTALL_SYSTEM_PACKAGES=1 (it does so by itself only as root under CI)"
    } >&2
    return 1
  fi
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "$who: cannot install $* (not root and no sudo); run as root:" >&2
    echo "    $command" >&2
    return 1
  fi
  echo "$who: installing system packages ($what): $command" >&2
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
