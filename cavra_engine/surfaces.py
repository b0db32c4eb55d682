"""The six CAVRA surfaces, and the one function that puts a decision (action, rule, target) on one of them.

A surface is where an agent's action lands: the data it could leak, the infrastructure it could change,
the MCP tools it calls, the source control it writes to, the commands it runs, or none of those in
particular (`general_policy`). Dashboards, findings and scores are cut by surface, so every decision
and every finding must land on exactly one, and the same inputs always land on the same one.

Precedence (first hit wins), so that the most specific signal decides:

1. The deciding rule's family. Bundled packs name rules `<pack>.<family>.<name>`; the pack or family
   says what the rule protects (`baseline.secrets.*` -> sensitive_data, `terraform.*` ->
   infrastructure_iac, `git.*` -> source_control, `registry.mcp.*` -> mcp_tools, ...). Portal rules
   that say nothing about the action (`portal.no_policy`, `mode.strict`, `approval.mismatch`) fall
   through.
2. The action type where it is unambiguous: `mcp_tool_call` -> mcp_tools, `git_operation` ->
   source_control.
3. The target: a secret-looking path or command (`.env`, `id_rsa`, `~/.aws/credentials`, `printenv`)
   -> sensitive_data; an infrastructure file or tool (`*.tf`, `k8s/`, `Dockerfile`, `terraform`,
   `kubectl`, `helm`) -> infrastructure_iac; repository internals or SCM tools (`.git/`, `gh`) ->
   source_control; any other command -> runtime_commands.
4. Everything else (a plain file read, a network request with no rule) -> general_policy.
"""

from __future__ import annotations

import re
import shlex

SENSITIVE_DATA = "sensitive_data"
INFRASTRUCTURE_IAC = "infrastructure_iac"
MCP_TOOLS = "mcp_tools"
SOURCE_CONTROL = "source_control"
RUNTIME_COMMANDS = "runtime_commands"
GENERAL_POLICY = "general_policy"

SURFACES: tuple[str, ...] = (
    SENSITIVE_DATA,
    INFRASTRUCTURE_IAC,
    MCP_TOOLS,
    SOURCE_CONTROL,
    RUNTIME_COMMANDS,
    GENERAL_POLICY,
)

SURFACE_LABELS: dict[str, str] = {
    SENSITIVE_DATA: "Sensitive data",
    INFRASTRUCTURE_IAC: "Infrastructure / IaC",
    MCP_TOOLS: "MCP tools",
    SOURCE_CONTROL: "Source control",
    RUNTIME_COMMANDS: "Runtime commands",
    GENERAL_POLICY: "General policy",
}

# Rule-id prefixes, longest first at lookup. A prefix ends at a dot boundary (see _rule_surface).
_RULE_PREFIXES: dict[str, str] = {
    "baseline.secrets": SENSITIVE_DATA,
    "data-exfiltration": SENSITIVE_DATA,
    "databases": SENSITIVE_DATA,
    "kubernetes-prod.secret-read": SENSITIVE_DATA,
    "scm-admin.auth.token-disclosure": SENSITIVE_DATA,
    "scm-admin.secrets": SENSITIVE_DATA,
    "mcp-governance.tool.reveal-secret": SENSITIVE_DATA,
    "mcp-governance.arguments.credential-path": SENSITIVE_DATA,
    "mcp-governance.capability.credentials": SENSITIVE_DATA,
    "filesystem.read": SENSITIVE_DATA,  # v1: block_read lists are secret files
    "baseline.ci": INFRASTRUCTURE_IAC,
    "baseline.iam": INFRASTRUCTURE_IAC,
    "cloud-iam": INFRASTRUCTURE_IAC,
    "kubernetes-prod": INFRASTRUCTURE_IAC,
    "terraform": INFRASTRUCTURE_IAC,
    "mcp-governance": MCP_TOOLS,
    "mcp": MCP_TOOLS,  # v1: mcp.server.trust.block_unknown
    "registry.mcp": MCP_TOOLS,
    "git": SOURCE_CONTROL,
    "scm-admin": SOURCE_CONTROL,
    "baseline.repo": SOURCE_CONTROL,
    "destructive-commands": RUNTIME_COMMANDS,
    "supply-chain": RUNTIME_COMMANDS,
    "commands": RUNTIME_COMMANDS,  # v1: commands.block / commands.allow / commands.default.*
}
_RULE_PREFIX_ORDER = sorted(_RULE_PREFIXES, key=len, reverse=True)

_SENSITIVE_PATH = re.compile(
    r"(^|/)(\.env(\..*)?|\.netrc|\.npmrc|\.pypirc|\.pgpass|id_(rsa|dsa|ecdsa|ed25519)(\.pub)?|"
    r"[^/]*\.(pem|key|p12|pfx|jks|kdbx)|credentials(\.json)?|secrets?(\.[a-z]+)?|"
    r"[^/]*\.tfstate(\.backup)?|kubeconfig)$|(^|/)\.(ssh|aws|gnupg|kube|docker)/",
    re.IGNORECASE,
)
_IAC_PATH = re.compile(
    r"(\.(tf|tfvars|hcl|bicep)$)|(^|/)(terraform|k8s|kubernetes|helm|charts|manifests|ansible|"
    r"cloudformation|deploy|infra)/|(^|/)(Dockerfile|docker-compose[^/]*\.ya?ml|Chart\.yaml|"
    r"kustomization\.ya?ml|\.gitlab-ci\.yml|Jenkinsfile)$|(^|/)\.github/workflows/",
    re.IGNORECASE,
)
_SCM_PATH = re.compile(r"(^|/)(\.git/|\.gitmodules$|\.gitattributes$|CODEOWNERS$)")
_IAC_PROGRAMS = frozenset(
    {
        "terraform",
        "tofu",
        "terragrunt",
        "pulumi",
        "kubectl",
        "helm",
        "kustomize",
        "aws",
        "gcloud",
        "az",
        "eksctl",
        "ansible",
        "ansible-playbook",
        "docker",
        "podman",
        "cdk",
        "serverless",
    }
)
_SCM_PROGRAMS = frozenset({"git", "gh", "glab", "hub"})
_SECRET_PROGRAMS = frozenset({"printenv", "security", "pass", "vault", "op", "gpg"})
_COMMAND_WRAPPERS = frozenset({"sudo", "env", "nohup", "command", "exec", "time", "nice"})


def _rule_surface(rule_id: str) -> str | None:
    for prefix in _RULE_PREFIX_ORDER:
        if rule_id == prefix or rule_id.startswith(prefix + "."):
            return _RULE_PREFIXES[prefix]
    return None


def _program(command: str) -> str:
    try:
        words = shlex.split(command, posix=True)
    except ValueError:
        words = command.split()
    for word in words:
        if "=" in word and not word.startswith(("/", ".")) and word.split("=", 1)[0].isidentifier():
            continue  # VAR=value prefix
        if word in _COMMAND_WRAPPERS:
            continue
        return word.rsplit("/", 1)[-1].lower()
    return ""


def classify_surface(action: str, rule_id: str | None = None, target: str | None = None) -> str:
    """The surface of one decision or finding; see the module docstring for the precedence.

    >>> classify_surface("read_file", "baseline.secrets.dotenv", ".env")
    'sensitive_data'
    >>> classify_surface("execute_command", None, "terraform apply")
    'infrastructure_iac'
    >>> classify_surface("read_file", None, "src/app.py")
    'general_policy'
    """
    if rule_id:
        by_rule = _rule_surface(rule_id)
        if by_rule is not None:
            return by_rule
    if action == "mcp_tool_call":
        return MCP_TOOLS
    if action == "git_operation":
        return SOURCE_CONTROL
    target = target or ""
    if action in ("read_file", "write_file"):
        if _SENSITIVE_PATH.search(target):
            return SENSITIVE_DATA
        if _IAC_PATH.search(target):
            return INFRASTRUCTURE_IAC
        if _SCM_PATH.search(target):
            return SOURCE_CONTROL
        return GENERAL_POLICY
    if action == "execute_command":
        program = _program(target)
        if program in _SECRET_PROGRAMS or any(_SENSITIVE_PATH.search(word) for word in target.split()):
            return SENSITIVE_DATA
        if program in _IAC_PROGRAMS:
            return INFRASTRUCTURE_IAC
        if program in _SCM_PROGRAMS:
            return SOURCE_CONTROL
        return RUNTIME_COMMANDS
    return GENERAL_POLICY
