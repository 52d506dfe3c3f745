#!/bin/sh
# One-shot (temporal-setup service, admin-tools image): the namespace and the search
# attributes every order's workflow sets at start (workflows/search-attributes.ts).
# Safe to run again: it adds only what is missing. The `temporal` CLI reads
# TEMPORAL_ADDRESS (and TEMPORAL_API_KEY / TEMPORAL_TLS_* for a secured cluster).
set -eu
ns="${TEMPORAL_NAMESPACE:-default}"
retention="${TEMPORAL_NAMESPACE_RETENTION:-720h}"

if temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
  echo "namespace $ns exists"
else
  temporal operator namespace create --namespace "$ns" --retention "$retention"
  echo "created namespace $ns (retention $retention)"
fi

# A new namespace takes a few seconds to reach every part of the server.
for attribute in OrderStatus=Keyword CustomerId=Keyword OrderAmountCents=Int; do
  name="${attribute%%=*}"
  type="${attribute#*=}"
  tries=0
  until temporal operator search-attribute list --namespace "$ns" | grep -qw "$name" ||
    temporal operator search-attribute create --namespace "$ns" --name "$name" --type "$type"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
      echo "could not register search attribute $name on $ns" >&2
      exit 1
    fi
    sleep 2
  done
  echo "search attribute $name ($type) is registered on $ns"
done
