from rest_framework import serializers

from core.roles import Role
from tenants.models import Membership


class TenantRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    full_name = serializers.CharField()
    tenant = TenantRefSerializer(allow_null=True)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    tenants = TenantRefSerializer(many=True)


class MemberSerializer(serializers.ModelSerializer):
    id = serializers.SerializerMethodField()
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "roles", "created_at"]

    def get_id(self, obj) -> str:
        return f"mem_{obj.pk}"
