#!/usr/bin/python
# -*- coding: utf-8 -*-
# Creates an S3 bucket on MinIO with nothing but the Python standard library (AWS Signature V4),
# so the target hosts need neither boto3 nor the mc client, neither of which Debian ships.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: minio_bucket
short_description: Ensure an S3 bucket exists on MinIO
description:
  - Checks for the bucket with HEAD and creates it with PUT, signed with AWS Signature V4.
  - With I(object_lock), creates it with object lock (and so versioning) on, and refuses an
    existing bucket without it: object lock can only be chosen when a bucket is made.
options:
  endpoint:
    description: Base URL of the S3 API, e.g. http://10.0.0.30:9000.
    type: str
    required: true
  access_key:
    description: Access key.
    type: str
    required: true
  secret_key:
    description: Secret key.
    type: str
    required: true
  region:
    description: Region used in the signature.
    type: str
    default: us-east-1
  name:
    description: Bucket name.
    type: str
    required: true
  ca_path:
    description: PEM CA certificate the endpoint's TLS certificate is checked against (the internal CA).
    type: path
  object_lock:
    description: Create the bucket with S3 object lock; fail if it exists without.
    type: bool
    default: false
  timeout:
    description: Seconds per request.
    type: int
    default: 10
author: rter
"""

EXAMPLES = r"""
- name: Create the bucket for rter
  minio_bucket:
    endpoint: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: rter
"""

RETURN = r"""
status:
  description: HTTP status of the last request.
  type: int
  returned: always
"""

import datetime
import hashlib
import hmac

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import quote, urlsplit
from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError


def signed_headers(method, url, region, access_key, secret_key, body=b"", extra=None):
    parts = urlsplit(url)
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    # Every x-amz-* header sent is signed; names in order, lower case.
    headers = dict((k.lower(), v) for k, v in (extra or {}).items())
    headers.update({"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date})
    names = ";".join(sorted(headers))
    # Query parameters here are bare names ("object-lock"): canonical form "name=".
    query = "&".join(sorted((q if "=" in q else q + "=") for q in parts.query.split("&") if q))
    canonical = "\n".join([
        method,
        quote(parts.path or "/", safe="/~"),
        query,
        "".join("%s:%s\n" % (k, headers[k]) for k in sorted(headers)),
        names,
        payload,
    ])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = dict((k, v) for k, v in headers.items() if k != "host")
    out["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (access_key, scope, names, signature)
    return out


def request(module, method, query="", extra=None):
    p = module.params
    url = p["endpoint"].rstrip("/") + "/" + p["name"] + ("?" + query if query else "")
    headers = signed_headers(method, url, p["region"], p["access_key"], p["secret_key"], extra=extra)
    try:
        res = open_url(url, method=method, headers=headers, timeout=p["timeout"], validate_certs=True, ca_path=p["ca_path"], data=b"" if method == "PUT" else None)
        return res.getcode(), res.read().decode("utf-8", "replace")[:2000] if method == "GET" else ""
    except HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")[:500]
    except Exception as e:  # connection refused, timeout
        module.fail_json(msg="%s %s failed: %s" % (method, url, e))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoint=dict(type="str", required=True),
            access_key=dict(type="str", required=True, no_log=True),
            secret_key=dict(type="str", required=True, no_log=True),
            region=dict(type="str", default="us-east-1"),
            name=dict(type="str", required=True),
            ca_path=dict(type="path"),
            object_lock=dict(type="bool", default=False),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    lock = module.params["object_lock"]
    status, body = request(module, "HEAD")
    if status == 200:
        if lock:
            status, body = request(module, "GET", "object-lock")
            if status != 200 or "<ObjectLockEnabled>Enabled</ObjectLockEnabled>" not in body:
                module.fail_json(msg="bucket %s exists without object lock (answered %s); object lock is chosen when a bucket is made: "
                                 "copy the objects to a new bucket made with it (mc mb --with-lock, mc mirror) and name that one" % (module.params["name"], status), status=status)
        module.exit_json(changed=False, status=status, object_lock=lock)
    if status != 404:
        module.fail_json(msg="HEAD bucket answered %s %s" % (status, body), status=status)
    if module.check_mode:
        module.exit_json(changed=True, status=status)
    status, body = request(module, "PUT", extra={"x-amz-bucket-object-lock-enabled": "true"} if lock else None)
    if status != 200:
        module.fail_json(msg="creating the bucket answered %s %s" % (status, body), status=status)
    module.exit_json(changed=True, status=status)


if __name__ == "__main__":
    main()
