from rest_framework import serializers

from cavra_engine.evidence.canonical import MAX_SAFE_INTEGER
from cavra_engine.policy.vocabulary import VERDICTS
from evidence.models import Checkpoint, EvidenceRecord, VerificationRun
from evidence.services import utc_timestamp


class EvidenceRecordSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", help_text="Public id, evd_…")
    created_at = serializers.SerializerMethodField()

    class Meta:
        model = EvidenceRecord
        fields = ["id", "seq", "kind", "subject", "payload", "actor", "created_at", "prev_hash", "hash"]

    def get_created_at(self, obj) -> str:
        return utc_timestamp(obj.created_at)


class CheckpointSerializer(serializers.ModelSerializer):
    key_id = serializers.CharField(source="key.key_id")
    created_at = serializers.SerializerMethodField()

    class Meta:
        model = Checkpoint
        fields = ["seq", "head_hash", "root_hash", "created_at", "key_id", "signature", "reason"]

    def get_created_at(self, obj) -> str:
        return utc_timestamp(obj.created_at)


class VerificationProblemSerializer(serializers.Serializer):
    seq = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class VerificationRunSerializer(serializers.ModelSerializer):
    problems = VerificationProblemSerializer(many=True)

    class Meta:
        model = VerificationRun
        fields = ["ok", "summary", "problems", "first_seq", "last_seq", "records_checked", "checkpoints_checked",
                  "trigger", "started_at", "finished_at"]  # fmt: skip


class RecordFilterSerializer(serializers.Serializer):
    kind = serializers.CharField(
        required=False, help_text="Exact kind, or a prefix ending in '.' (e.g. 'decision.')"
    )
    session = serializers.CharField(required=False, help_text="Session public id (ses_…)")
    agent = serializers.CharField(required=False, help_text="Agent public id (agt_…)")
    repository = serializers.CharField(required=False)
    decision = serializers.ChoiceField(required=False, choices=list(VERDICTS))
    subject = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    seq_from = serializers.IntegerField(required=False, min_value=1)
    seq_to = serializers.IntegerField(required=False, min_value=1)


class BundleRequestSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    session = serializers.CharField(required=False, allow_blank=True, default="")
    agent = serializers.CharField(required=False, allow_blank=True, default="")
    repository = serializers.CharField(required=False, allow_blank=True, default="")
    # Seqs are canonical-JSON integers: beyond 2**53-1 none exists, and the bundle manifest cannot hold it.
    first_seq = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SAFE_INTEGER)
    last_seq = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SAFE_INTEGER)

    def validate(self, attrs):
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "must be later than since"})
        return attrs


class VerifyRequestSerializer(serializers.Serializer):
    # Seqs are canonical-JSON integers: beyond 2**53-1 none exists, and the bundle manifest cannot hold it.
    first_seq = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SAFE_INTEGER)
    last_seq = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SAFE_INTEGER)

    def validate(self, attrs):
        if attrs.get("first_seq") and attrs.get("last_seq") and attrs["first_seq"] > attrs["last_seq"]:
            raise serializers.ValidationError({"last_seq": "must not be below first_seq"})
        return attrs


class SiemQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, min_value=0, default=0, help_text="Return records with seq > after"
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=5000, default=1000)
    output = serializers.ChoiceField(
        required=False, choices=["jsonl", "cef"], default="jsonl", help_text="jsonl (default) or cef"
    )


class TrustRootKeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    algorithm = serializers.CharField()
    public_key = serializers.CharField()
    fingerprint = serializers.CharField()
    valid_from = serializers.CharField()
    valid_until = serializers.CharField(allow_null=True)


class TrustRootSerializer(serializers.Serializer):
    type = serializers.CharField()
    tenant = serializers.CharField()
    created_at = serializers.CharField()
    keys = TrustRootKeySerializer(many=True)


class TreeHeadSerializer(serializers.Serializer):
    """A signed tree head exactly as signed (docs/evidence-format.md section 3, checkpoint v2)."""

    type = serializers.CharField()
    tenant = serializers.CharField()
    seq = serializers.IntegerField(help_text="Tree size: the head covers records 1..seq")
    head_hash = serializers.CharField()
    root_hash = serializers.CharField(help_text="RFC 9162 Merkle root over the record hashes 1..seq")
    created_at = serializers.CharField()
    key_id = serializers.CharField()
    signature = serializers.CharField()


class InclusionQuerySerializer(serializers.Serializer):
    size = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_SAFE_INTEGER,
        help_text="Seq of the signed tree head to prove against (default: the latest)",
    )  # fmt: skip


class InclusionProofSerializer(serializers.Serializer):
    record = serializers.CharField(help_text="evd_… id")
    seq = serializers.IntegerField()
    leaf_index = serializers.IntegerField(help_text="seq − 1")
    leaf_hash = serializers.CharField(help_text="SHA-256(0x00 || record hash bytes), hex")
    tree_size = serializers.IntegerField()
    proof = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 audit path, hex")
    tree_head = TreeHeadSerializer()


ConsistencyQuerySerializer = type(
    "ConsistencyQuerySerializer",
    (serializers.Serializer,),
    {
        "from": serializers.IntegerField(
            min_value=1, max_value=MAX_SAFE_INTEGER, help_text="Older tree size"
        ),
        "to": serializers.IntegerField(
            required=False,
            min_value=1,
            max_value=MAX_SAFE_INTEGER,
            help_text="Newer tree size: a signed tree head's seq (default: the latest)",
        ),  # fmt: skip
        "validate": lambda self, attrs: _consistency_order(attrs),
    },
)


def _consistency_order(attrs):
    if attrs.get("to") is not None and attrs["from"] > attrs["to"]:
        raise serializers.ValidationError({"from": "must not be above to"})
    return attrs


class ConsistencyProofSerializer(serializers.Serializer):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    first_root = serializers.CharField(help_text="Merkle root at size `first`, hex")
    proof = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 consistency proof, hex")
    tree_head = TreeHeadSerializer(help_text="The signed tree head at size `second`")


BUNDLE_UPLOAD_MAX_BYTES = 64 * 1024 * 1024


class BundleVerifyRequestSerializer(serializers.Serializer):
    bundle = serializers.FileField(help_text="A bundle (.zip) exported from this portal or another")

    def validate_bundle(self, value):
        if value.size > BUNDLE_UPLOAD_MAX_BYTES:
            raise serializers.ValidationError(
                f"at most {BUNDLE_UPLOAD_MAX_BYTES // 2**20} MiB; use `cavra evidence verify`"
            )
        return value


class BundleProblemSerializer(serializers.Serializer):
    where = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)
    seq = serializers.IntegerField(allow_null=True)
    member = serializers.CharField(allow_null=True)
    code = serializers.CharField(help_text="Error code, docs/evidence-format.md section 8")
    message = serializers.CharField()


class BundleVerifyResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    summary = serializers.DictField()
    problems = BundleProblemSerializer(many=True)
