"""Per-program flag aliases and value-taking options, so equivalent spellings of a flag match alike."""

from __future__ import annotations


def _table(spec: dict[str, str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, forms in spec.items():
        for form in forms.split():
            table[form] = canonical
    return table


_RM = {"recursive": "-r -R --recursive", "force": "-f --force", "no-preserve-root": "--no-preserve-root"}
_COPY = {"recursive": "-r -R --recursive", "force": "-f --force"}
_OWNERSHIP = {"recursive": "-R --recursive"}
_NPM = {"global": "-g --global", "force": "-f --force"}
_PIP = {
    "user": "--user",
    "index-url": "-i --index-url --extra-index-url",
    "break-system-packages": "--break-system-packages",
}
_DOCKER = {"privileged": "--privileged", "force": "-f --force", "all": "-a --all"}
_NC = {"exec": "-e -c --exec --sh-exec", "listen": "-l --listen"}
_TERRAFORM = {"auto-approve": "-auto-approve --auto-approve", "destroy": "-destroy --destroy"}
_SQL = {"command": "-c --command -e --execute"}

FLAG_ALIASES: dict[str, dict[str, str]] = {
    "rm": _table(_RM),
    "cp": _table(_COPY),
    "mv": _table(_COPY),
    "chmod": _table(_OWNERSHIP),
    "chown": _table(_OWNERSHIP),
    "chgrp": _table(_OWNERSHIP),
    "git": _table(
        {
            "force": "-f --force --force-with-lease --force-if-includes",
            "delete": "-d -D --delete",
            "hard": "--hard",
            "all": "--all",
            "mirror": "--mirror",
            "tags": "--tags",
        }
    ),
    "kubectl": _table(
        {"all": "--all -A --all-namespaces", "force": "--force", "recursive": "-R --recursive"}
    ),
    "terraform": _table(_TERRAFORM),
    "tofu": _table(_TERRAFORM),
    "curl": _table(
        {
            "data": "-d --data --data-binary --data-raw --data-urlencode -F --form -T --upload-file",
            "insecure": "-k --insecure",
            "output": "-o -O --output --remote-name",
        }
    ),
    "wget": _table(
        {
            "post": "--post-data --post-file --body-data --body-file --method",
            "output": "-O --output-document",
        }
    ),
    "npm": _table(_NPM),
    "pnpm": _table(_NPM),
    "yarn": _table(_NPM),
    "pip": _table(_PIP),
    "pip3": _table(_PIP),
    "docker": _table(_DOCKER),
    "podman": _table(_DOCKER),
    "find": _table({"delete": "-delete", "exec": "-exec -execdir -ok -okdir"}),
    "nc": _table(_NC),
    "ncat": _table(_NC),
    "netcat": _table(_NC),
    "history": _table({"clear": "-c", "delete": "-d"}),
    "shred": _table({"remove": "-u --remove", "zero": "-z --zero"}),
    "psql": _table(_SQL),
    "mysql": _table(_SQL),
}

# Options whose value is the next word, so that value is not read as a subcommand or argument.
VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "kubectl": frozenset(
        "-n --namespace --context --cluster --user -o --output -l --selector -f --filename -c --container "
        "--kubeconfig -s --server --as --as-group --token -L --label-columns --field-selector".split()
    ),
    "oc": frozenset("-n --namespace --context -o --output -l --selector -f --filename".split()),
    "helm": frozenset(
        "-n --namespace --kube-context --kubeconfig -f --values --set --version -o --output".split()
    ),
    "git": frozenset("-C -c --git-dir --work-tree --namespace --exec-path".split()),
    "docker": frozenset(
        "-H --host --context --config -e --env -v --volume --name -p --publish -w --workdir -u --user "
        "--network --entrypoint --env-file --mount -l --label".split()
    ),
    "podman": frozenset("-e --env -v --volume --name -p --publish -w --workdir -u --user --network".split()),
    "aws": frozenset("--profile --region --output --endpoint-url --query --cli-input-json".split()),
    "gcloud": frozenset("--project --account --configuration --format --zone --region".split()),
    "az": frozenset("--subscription -o --output --query -g --resource-group".split()),
    "terraform": frozenset(),
    "gh": frozenset("-R --repo".split()),
    "glab": frozenset("-R --repo".split()),
    "psql": frozenset("-h --host -p --port -U --username -d --dbname -f --file".split()),
    "mysql": frozenset("-h --host -P --port -u --user -D --database".split()),
    "ssh": frozenset("-i -p -l -o -F -J -L -R -D -b -c -E -m -S -W -w".split()),
    "scp": frozenset("-i -P -o -F -J -l -c -S".split()),
    "curl": frozenset(
        "-X --request -H --header -d --data --data-binary --data-raw --data-urlencode -F --form -T "
        "--upload-file -o --output -u --user -A --user-agent -e --referer -b --cookie -c --cookie-jar "
        "--connect-timeout -m --max-time --resolve -x --proxy".split()
    ),
    "wget": frozenset(
        "-O --output-document -o --output-file --header --post-data --post-file -U --user-agent".split()
    ),
    "npm": frozenset("--registry --prefix -w --workspace".split()),
    "pip": frozenset("-i --index-url --extra-index-url -r --requirement -c --constraint -t --target".split()),
    "pip3": frozenset(
        "-i --index-url --extra-index-url -r --requirement -c --constraint -t --target".split()
    ),
}


def canonical_flag(program: str | None, flag: str) -> str:
    if program is None:
        return flag
    table = FLAG_ALIASES.get(program)
    if table is None:
        return flag
    return table.get(flag, flag)


def canonical_flags(program: str | None, raw_flags: frozenset[str]) -> frozenset[str]:
    table = FLAG_ALIASES.get(program or "")
    if not table:
        return raw_flags
    return frozenset(table.get(flag, flag) for flag in raw_flags) | raw_flags
