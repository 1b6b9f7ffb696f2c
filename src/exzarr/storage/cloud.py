"""``s3://``, ``gs://``, ``az://`` and ``http(s)://`` URLs to :class:`ObjectStore` objects.

``storage_options`` take the spelling zarr-python, xarray and fsspec users already have
(``key``, ``secret``, ``token``, ``anon``, ``endpoint_url``, ``client_kwargs={"endpoint_url",
"region_name"}``, ``region``, ``account_name``, ``account_key``, ``sas_token``...) as well as
obstore's own configuration names (``access_key_id``, ``endpoint``, ``bearer_token``,
``client_options``, ``retry_config``...). Credentials in the environment work as they do with
obstore. An ``http://`` endpoint (an emulator, MinIO) is allowed without extra flags. An option
that is neither is a ``TypeError`` naming it.

>>> translate("s3", {"key": "AK", "secret": "SK", "endpoint_url": "http://127.0.0.1:9000"})[0]
{'access_key_id': 'AK', 'secret_access_key': 'SK', 'endpoint': 'http://127.0.0.1:9000'}
"""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from ..errors import StoreError
from .objectstore import ObjectStore

__all__ = ["SCHEMES", "open_url", "translate"]

SCHEMES = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "azure": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
    "http": "http",
    "https": "http",
}

# fsspec/zarr-python spellings -> obstore configuration names, per backend
_ALIASES = {
    "s3": {
        "key": "access_key_id",
        "secret": "secret_access_key",
        "token": "session_token",
        "endpoint_url": "endpoint",
        "region_name": "region",
        "aws_access_key_id": "access_key_id",
        "aws_secret_access_key": "secret_access_key",
        "aws_session_token": "session_token",
        "requester_pays": "request_payer",
    },
    "gcs": {"endpoint_url": "base_url", "endpoint": "base_url"},
    "azure": {"sas_token": "sas_key", "endpoint_url": "endpoint", "account_host": "endpoint", "container": "container_name"},
    "http": {},
}
_SECRET_WORDS = ("secret", "key", "token", "password", "sas", "credential")
_IGNORED = {"gcs": {"project", "access", "consistency"}, "s3": {"use_listings_cache", "default_block_size"}}


def _obstore_keys(backend: str) -> set[str]:
    """obstore's configuration names per backend (S3Config, GCSConfig, AzureConfig)."""
    keys = {
        "s3": """access_key_id aws_endpoint_url_s3 bucket checksum_algorithm conditional_put container_credentials_relative_uri
            container_credentials_full_uri container_authorization_token_file copy_if_not_exists default_region disable_tagging
            disable_bulk_delete endpoint imdsv1_fallback metadata_endpoint region request_payer role_arn role_session_name
            s3_express secret_access_key server_side_encryption session_token skip_signature sse_bucket_key_enabled
            sse_customer_key_base64 sse_kms_key_id sts_endpoint unsigned_payload virtual_hosted_style_request
            web_identity_token_file""",
        "gcs": "service_account service_account_key base_url bearer_token bucket application_credentials skip_signature",
        "azure": """account_name account_key client_id client_secret credential_type tenant_id authority_host sas_key token
            use_emulator use_fabric_endpoint encryption_key endpoint msi_endpoint object_id msi_resource_id
            federated_token_file use_azure_cli skip_signature container_name disable_tagging fabric_token_service_url
            fabric_workload_host fabric_session_token fabric_cluster_identifier""",
        "http": "",
    }[backend]
    return set(keys.split())


def translate(backend: str, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, list[str]]:
    """``(config, client_options, retry_config, secrets)`` for obstore from user ``storage_options``."""
    opts = dict(options)
    client = dict(opts.pop("client_options", None) or {})
    retry = opts.pop("retry_config", None)
    config: dict[str, Any] = {}
    secrets: list[str] = []
    aliases = _ALIASES[backend]
    known = _obstore_keys(backend)
    ck = opts.pop("client_kwargs", None) or {}
    if not isinstance(ck, dict):
        raise TypeError(f"storage_options: client_kwargs must be a dict, got {type(ck).__name__}")
    for k, v in ck.items():
        if k == "verify":
            client.setdefault("allow_invalid_certificates", not v)
        elif k in ("endpoint_url", "region_name"):
            opts.setdefault(k, v)
        else:
            raise TypeError(f"storage_options: client_kwargs {k!r} is not supported (endpoint_url, region_name, verify are)")
    for k, v in opts.items():
        if k in _IGNORED.get(backend, ()):
            continue
        if k == "anon":
            if v:
                config["skip_signature"] = True
            continue
        if k == "use_ssl":
            if not v:
                client["allow_http"] = True
            continue
        if k == "headers" and backend == "http":
            client["default_headers"] = dict(v)
            continue
        if backend == "gcs" and k == "token":
            _gcs_token(v, config, opts)
            continue
        if backend == "azure" and k == "connection_string":
            _azure_connection_string(v, config)
            continue
        name = aliases.get(k, k)
        if name not in known:
            candidates = sorted(known | set(aliases) | {"anon", "client_kwargs", "client_options", "retry_config"})
            close = difflib.get_close_matches(k, candidates, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"storage_options: {k!r} is not an option for {backend} storage{hint}")
        config[name] = v
    for k, v in list(config.items()):
        if isinstance(v, str) and any(w in k for w in _SECRET_WORDS) and k not in ("endpoint", "base_url"):
            secrets.append(v)
    endpoint = str(config.get("endpoint") or config.get("base_url") or "")
    if endpoint.startswith("http://"):
        client.setdefault("allow_http", True)  # an emulator or MinIO: no extra flag needed
    return config, client, retry, secrets


def _gcs_token(token: Any, config: dict[str, Any], opts: dict[str, Any]) -> None:
    import json

    if token in ("anon", None):
        if opts.get("endpoint_url") or opts.get("base_url") or opts.get("endpoint"):
            # an emulator: any bearer token will do (obstore would otherwise ask the cloud metadata
            # service for one before every write)
            config["bearer_token"] = "anonymous"
        else:
            config["skip_signature"] = True
    elif token in ("google_default", "cloud", "cache", "browser"):
        return  # the environment's credentials, as obstore finds them
    elif isinstance(token, dict):
        config["service_account_key"] = json.dumps(token)
    elif isinstance(token, str) and (token.endswith(".json") or "/" in token):
        config["service_account"] = token
    else:
        config["bearer_token"] = str(token)


def _azure_connection_string(cs: str, config: dict[str, Any]) -> None:
    parts = dict(p.split("=", 1) for p in str(cs).split(";") if "=" in p)
    if "AccountName" in parts:
        config["account_name"] = parts["AccountName"]
    if "AccountKey" in parts:
        config["account_key"] = parts["AccountKey"]
    if "SharedAccessSignature" in parts:
        config["sas_key"] = parts["SharedAccessSignature"]
    if "BlobEndpoint" in parts:
        config["endpoint"] = parts["BlobEndpoint"]


#: Stores made from URLs leave retrying to :class:`ObjectStore` (exponential backoff with full
#: jitter): obstore's own retries would absorb the 503/429 replies the adaptive limit must see to
#: slow down. A store object the user built keeps its own retry configuration.
DEFAULT_RETRY = {
    "max_retries": 0,
    "backoff": {"init_backoff": timedelta(milliseconds=50), "max_backoff": timedelta(seconds=2), "base": 2},
    "retry_timeout": timedelta(seconds=60),
}


def open_url(url: str, storage_options: dict[str, Any] | None, mode: str) -> ObjectStore:
    """The store for a cloud or HTTP URL (the URL's path becomes the store's prefix)."""
    from obstore.store import AzureStore, GCSStore, HTTPStore, S3Store

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    backend = SCHEMES.get(scheme)
    if backend is None:
        raise StoreError(f"path {url!r}: unknown scheme {scheme!r}")
    config, client, retry, secrets = translate(backend, storage_options or {})
    retry = retry if retry is not None else DEFAULT_RETRY
    read_only = mode == "r"
    try:
        if backend == "http":
            if scheme == "http":
                client.setdefault("allow_http", True)
            store = HTTPStore.from_url(url.rstrip("/"), client_options=client or None, retry_config=retry)
            return ObjectStore(store, url=url.rstrip("/"), read_only=True, secrets=secrets)
        bucket = parts.netloc
        prefix = parts.path.strip("/") or None
        if backend == "azure" and "@" in bucket:  # abfs://container@account.dfs.core.windows.net/path
            bucket, host = bucket.split("@", 1)
            config.setdefault("account_name", host.split(".", 1)[0])
        if not bucket:
            raise StoreError(f"path {url!r}: no bucket or container name")
        cls = {"s3": S3Store, "gcs": GCSStore, "azure": AzureStore}[backend]
        store = cls(bucket, prefix=prefix, config=config, client_options=client or None, retry_config=retry)
    except StoreError:
        raise
    except Exception as exc:
        msg = str(exc)
        for s in secrets:
            msg = msg.replace(s, "***")
        raise StoreError(f"{url}: cannot configure {backend} storage: {msg}") from None
    return ObjectStore(store, url=url.rstrip("/"), read_only=read_only, secrets=secrets)
