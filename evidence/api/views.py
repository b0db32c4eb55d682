"""Evidence API: records, checkpoints, trust root, bundle export, verification status, SIEM pull."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from cavra_engine.evidence import merkle
from cavra_engine.evidence.verify import verify_bundle
from core.api.pagination import StableCursorPagination
from core.api.parsers import LimitedJSONParser
from core.api.problems import ERRORS, PROBLEM
from core.authz import HasCapability
from evidence import selectors, services
from evidence.api.serializers import (
    BundleRequestSerializer,
    BundleVerifyRequestSerializer,
    BundleVerifyResultSerializer,
    CheckpointSerializer,
    ConsistencyProofSerializer,
    ConsistencyQuerySerializer,
    EvidenceRecordSerializer,
    InclusionProofSerializer,
    InclusionQuerySerializer,
    RecordFilterSerializer,
    SiemQuerySerializer,
    TrustRootSerializer,
    VerificationRunSerializer,
    VerifyRequestSerializer,
)
from evidence.models import Checkpoint, EvidenceRecord
from evidence.siem import record_cef, record_jsonl


class SeqCursorPagination(StableCursorPagination):
    ordering = "-seq"


class EvidenceAPIView:
    permission_classes = [HasCapability]
    required_capability = "evidence.export"


class RecordListView(EvidenceAPIView, generics.ListAPIView):
    serializer_class = EvidenceRecordSerializer
    pagination_class = SeqCursorPagination
    queryset = EvidenceRecord.objects.none()  # the model, for the schema; get_queryset scopes the rows

    def get_queryset(self):
        params = RecordFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return selectors.evidence_records(
            tenant=self.request.tenant, user=self.request.user, filters=params.validated_data
        )

    @extend_schema(
        summary="List and search evidence records (newest first)",
        parameters=[RecordFilterSerializer],
        responses={200: EvidenceRecordSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RecordDetailView(EvidenceAPIView, APIView):
    @extend_schema(summary="One evidence record", responses={200: EvidenceRecordSerializer, **ERRORS})
    def get(self, request, public_id: str):
        record = selectors.evidence_record_get(tenant=request.tenant, user=request.user, public_id=public_id)
        return Response(EvidenceRecordSerializer(record).data)


class CheckpointListView(EvidenceAPIView, generics.ListAPIView):
    serializer_class = CheckpointSerializer
    pagination_class = SeqCursorPagination
    queryset = Checkpoint.objects.none()  # the model, for the schema; get_queryset scopes the rows

    def get_queryset(self):
        return selectors.checkpoints_list(tenant=self.request.tenant, user=self.request.user)

    @extend_schema(
        summary="Signed checkpoints (newest first)",
        responses={200: CheckpointSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(summary="Sign a checkpoint at the current head now", request=None,
                   responses={201: CheckpointSerializer, 409: PROBLEM, **ERRORS})  # fmt: skip
    def post(self, request):
        checkpoint = services.checkpoint_create(tenant=request.tenant)
        if checkpoint is None:
            from core.api.problems import problem_response

            return problem_response(409, "The evidence chain is empty; there is nothing to sign yet.")
        return Response(CheckpointSerializer(checkpoint).data, status=status.HTTP_201_CREATED)


class TrustRootView(EvidenceAPIView, APIView):
    @extend_schema(
        summary="The tenant's trust root: every public signing key with its validity",
        responses={200: TrustRootSerializer, **ERRORS},
    )
    def get(self, request):
        return Response(services.trust_root_export(request.tenant))


class BundleExportView(EvidenceAPIView, APIView):
    @extend_schema(
        summary="Export an evidence bundle (zip) for offline verification with `cavra evidence verify`",
        request=BundleRequestSerializer,
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The bundle file"),
            **ERRORS,
        },
    )
    def post(self, request):
        params = BundleRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            export = services.bundle_export(
                tenant=request.tenant, actor=request.user, **params.validated_data
            )
        except services.EvidenceError as exc:
            raise serializers.ValidationError({"non_field_errors": [str(exc)]})
        response = HttpResponse(export.data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["X-Evidence-First-Seq"] = str(export.first_seq)
        response["X-Evidence-Last-Seq"] = str(export.last_seq)
        return response


class VerificationView(EvidenceAPIView, APIView):
    @extend_schema(
        summary="The latest chain verification result",
        responses={200: VerificationRunSerializer, 404: PROBLEM, 401: PROBLEM, 403: PROBLEM},
    )
    def get(self, request):
        run = selectors.verification_latest(tenant=request.tenant, user=request.user)
        if run is None:
            from core.api.problems import problem_response

            return problem_response(404, "The chain has not been verified yet.")
        return Response(VerificationRunSerializer(run).data)

    @extend_schema(
        summary="Verify the chain (or a seq range) now",
        request=VerifyRequestSerializer,
        responses={200: VerificationRunSerializer, **ERRORS},
    )
    def post(self, request):
        params = VerifyRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        run = services.chain_verify(tenant=request.tenant, requested_by=request.user, **params.validated_data)
        return Response(VerificationRunSerializer(run).data)


class SiemExportView(EvidenceAPIView, APIView):
    @extend_schema(
        summary="Pull records for a SIEM, oldest first, resuming after a seq",
        description="Returns up to `limit` records with seq > `after` as JSON Lines or CEF. The `X-Next-After` "
        "header is the seq to pass as `after` next time; an empty body means the collector is up to date.",
        parameters=[SiemQuerySerializer],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR),
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR),
            **ERRORS,
        },
    )
    def get(self, request):
        params = SiemQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        after, limit, fmt = (params.validated_data[k] for k in ("after", "limit", "output"))
        records = selectors.siem_page(tenant=request.tenant, user=request.user, after=after, limit=limit)
        label = selectors.tenant_label(request.tenant)
        render = record_cef if fmt == "cef" else record_jsonl
        response = StreamingHttpResponse((render(r, label) for r in records),
                                         content_type="text/plain; charset=utf-8" if fmt == "cef" else "application/x-ndjson")  # fmt: skip
        next_after = records[-1].seq if records else after
        response["X-Next-After"] = str(next_after)
        response["Link"] = f'<{request.path}?after={next_after}&limit={limit}&output={fmt}>; rel="next"'
        return response


class RecordProofView(EvidenceAPIView, APIView):
    @extend_schema(
        summary="Merkle inclusion proof of one record in a signed tree head (RFC 9162)",
        parameters=[InclusionQuerySerializer],
        responses={200: InclusionProofSerializer, **ERRORS},
    )
    def get(self, request, public_id: str):
        params = InclusionQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        record = selectors.evidence_record_get(tenant=request.tenant, user=request.user, public_id=public_id)
        head = selectors.tree_head_get(
            tenant=request.tenant, user=request.user, size=params.validated_data.get("size"), field="size"
        )
        if record.seq > head.seq:
            raise serializers.ValidationError(
                {
                    "size": [
                        f"record #{record.seq} is not in the tree head of size {head.seq}; ask a later head"
                    ]
                }
            )
        proof = services.merkle_inclusion_proof(tenant=request.tenant, seq=record.seq, size=head.seq)
        return Response({
            "record": record.public_id, "seq": record.seq, "leaf_index": record.seq - 1,
            "leaf_hash": merkle.leaf_hash(bytes.fromhex(record.hash)).hex(), "tree_size": head.seq,
            "proof": [h.hex() for h in proof], "tree_head": selectors.tree_head_document(head),
        })  # fmt: skip


class ConsistencyProofView(EvidenceAPIView, APIView):
    @extend_schema(
        summary="Merkle consistency proof between two tree sizes (RFC 9162)",
        parameters=[ConsistencyQuerySerializer],
        responses={200: ConsistencyProofSerializer, **ERRORS},
    )
    def get(self, request):
        params = ConsistencyQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        first = params.validated_data["from"]
        head = selectors.tree_head_get(
            tenant=request.tenant, user=request.user, size=params.validated_data.get("to"), field="to"
        )
        if first > head.seq:
            raise serializers.ValidationError(
                {"from": [f"must not be above the tree head's size {head.seq}"]}
            )
        proof = services.merkle_consistency_proof(tenant=request.tenant, first=first, second=head.seq)
        return Response({
            "first": first, "second": head.seq,
            "first_root": services.merkle_root(tenant=request.tenant, size=first).hex(),
            "proof": [h.hex() for h in proof], "tree_head": selectors.tree_head_document(head),
        })  # fmt: skip


class BundleVerifyView(EvidenceAPIView, APIView):
    parser_classes = [MultiPartParser, LimitedJSONParser]  # JSON only to answer "bundle is required" clearly

    @extend_schema(
        summary="Verify an uploaded bundle against this tenant's trust root (same code as `cavra evidence verify`)",
        request={"multipart/form-data": BundleVerifyRequestSerializer},
        responses={200: BundleVerifyResultSerializer, **ERRORS},
    )
    def post(self, request):
        params = BundleVerifyRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data["bundle"].read()
        report = verify_bundle(data, services.trust_root_export(request.tenant), workers=1)
        return Response(report.as_dict())
