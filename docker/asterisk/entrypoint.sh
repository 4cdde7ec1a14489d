#!/bin/sh
# Start Asterisk for frontdesk: write the secrets from the environment, copy in
# the files generated from the plan, then run Asterisk in the foreground as the
# asterisk user. Runs as root only for these steps.
set -eu
umask 077

secret() {
    # A value that is missing, a placeholder, or has characters that could
    # break out of a config line (newline, ';', spaces) is refused.
    name=$1
    eval "value=\${$name:-}"
    case "$value" in
        "" | CHANGE-ME) echo "entrypoint: set $name in docker/.env" >&2; exit 1 ;;
        *[!A-Za-z0-9_.~+/=-]*) echo "entrypoint: $name: use letters, digits and - _ . ~ + / = only" >&2; exit 1 ;;
    esac
    printf '%s' "$value"
}

# (Assignments first: `set -e` stops on a failed $(...) only in an assignment.)
ari_password=$(secret FRONTDESK_ARI_PASSWORD)
ami_secret=$(secret FRONTDESK_AMI_SECRET)
printf 'password = %s\n' "$ari_password" > /etc/asterisk/ari-secrets.conf
printf 'secret = %s\n' "$ami_secret" > /etc/asterisk/manager-secrets.conf

# `frontdesk asterisk-conf` output: pjsip.conf, pjsip-secrets.conf, queues.conf,
# frontdesk-globals.conf, frontdesk-voicemail.conf.
found=no
for file in /srv/frontdesk/conf/*.conf; do
    [ -f "$file" ] || continue
    cp "$file" /etc/asterisk/
    found=yes
done
if [ "$found" = no ]; then
    echo "entrypoint: no generated configuration in docker/generated/conf;" >&2
    echo "  run: frontdesk asterisk-conf PLAN --out docker/generated/conf --bind 0.0.0.0:5060" >&2
    exit 1
fi

# frontdesk-options.conf (maxcalls, maxload, systemname: the site) goes into
# asterisk.conf's [options], which cannot #include it; once, on the first start.
if [ -f /etc/asterisk/frontdesk-options.conf ] && ! grep -q '^systemname' /etc/asterisk/asterisk.conf; then
    sed -i '/^\[options\]/r /etc/asterisk/frontdesk-options.conf' /etc/asterisk/asterisk.conf
fi

# `frontdesk prompts` output: <lang>/frontdesk/<name>.wav
if [ -d /srv/frontdesk/sounds ]; then
    cp -R /srv/frontdesk/sounds/. /var/lib/asterisk/sounds/
    rm -f /var/lib/asterisk/sounds/.frontdesk-prompts.json
else
    echo "entrypoint: no prompts; run: frontdesk prompts PLAN --out docker/generated/sounds" >&2
fi

chown asterisk:asterisk /etc/asterisk/*.conf
chown -R asterisk:asterisk /var/lib/asterisk/sounds /var/spool/asterisk

exec asterisk -f -U asterisk -G asterisk -vvv
