#!/bin/sh
# Chromium as the browser tests launch it (conftest.py): Chromium heeds only the last
# --disable-features it is given, and Playwright passes a list of its own before the suite's, so
# every list is merged into one here and the real binary ($VAULT_CHROMIUM_BINARY) started with it.
features=""
for arg do
  shift
  case $arg in
    --disable-features=*) features="${features:+$features,}${arg#--disable-features=}" ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec "$VAULT_CHROMIUM_BINARY" ${features:+"--disable-features=$features"} "$@"
