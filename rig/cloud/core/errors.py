"""Errors of the cloud model, named and shaped like the AWS IoT exceptions (code + message)."""

from __future__ import annotations


class CloudError(Exception):
    """An AWS-style service error: `code` is the exception name the aws-cli prints."""

    code = "InternalFailureException"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidRequestException(CloudError):
    code, http_status = "InvalidRequestException", 400


class ResourceNotFoundException(CloudError):
    code, http_status = "ResourceNotFoundException", 404


class ResourceAlreadyExistsException(CloudError):
    code, http_status = "ResourceAlreadyExistsException", 409


class VersionConflictException(CloudError):
    code, http_status = "VersionConflictException", 409


class InvalidStateTransitionException(CloudError):
    code, http_status = "InvalidStateTransitionException", 409


class TerminalStateException(CloudError):
    code, http_status = "TerminalStateException", 410


class ConflictException(CloudError):
    code, http_status = "ConflictException", 409


class CertificateStateException(CloudError):
    code, http_status = "CertificateStateException", 406


class DeleteConflictException(CloudError):
    code, http_status = "DeleteConflictException", 409


class LimitExceededException(CloudError):
    code, http_status = "LimitExceededException", 410


class MalformedPolicyException(CloudError):
    code, http_status = "MalformedPolicyException", 400


class RequestEntityTooLargeException(CloudError):
    code, http_status = "RequestEntityTooLargeException", 413


class ThrottlingException(CloudError):
    code, http_status = "ThrottlingException", 429


class UnsupportedDocumentEncodingException(CloudError):
    code, http_status = "UnsupportedDocumentEncodingException", 415


class UnauthorizedException(CloudError):
    code, http_status = "UnauthorizedException", 401


class ForbiddenException(CloudError):
    code, http_status = "ForbiddenException", 403


class ServiceUnavailableException(CloudError):
    code, http_status = "ServiceUnavailableException", 503


class InternalFailureException(CloudError):
    pass


# Your own CA (RegisterCACertificate, RegisterCertificate): rig/cloud/ca_registration/
class CertificateValidationException(CloudError):
    code, http_status = "CertificateValidationException", 400


class RegistrationCodeValidationException(CloudError):
    code, http_status = "RegistrationCodeValidationException", 400


class CertificateConflictException(CloudError):
    code, http_status = "CertificateConflictException", 409
