#!/bin/sh
# The official image's entrypoint turns CLICKHOUSE_USER / CLICKHOUSE_PASSWORD into a user
# (password, any network, profile default) and reads /etc/clickhouse-server/{users.d,
# config.d}. 18.16 wants <yandex> as the root element and knows no <constraints>: the
# mounted files are copied with those two changes (their content otherwise as shipped,
# passwords still read with from_env), then the server runs as user clickhouse.
set -eu
conf=/etc/clickhouse-standin
for kind in users.d config.d; do
    rm -f "$conf/$kind"/*.xml
    for file in /etc/clickhouse-server/"$kind"/*.xml; do
        [ -f "$file" ] || continue
        sed -e 's#^<clickhouse>#<yandex>#; s#^</clickhouse>#</yandex>#' \
            -e '/^ *<constraints> *$/,/^ *<\/constraints> *$/d' \
            "$file" > "$conf/$kind/$(basename "$file")"
    done
done
if [ -n "${CLICKHOUSE_USER:-}" ] && [ "$CLICKHOUSE_USER" != default ]; then
    cat > "$conf/users.d/default-user.xml" <<XML
<yandex>
    <users>
        <${CLICKHOUSE_USER}>
            <password from_env="CLICKHOUSE_PASSWORD"/>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </${CLICKHOUSE_USER}>
    </users>
</yandex>
XML
fi
mkdir -p /var/lib/clickhouse/tmp /var/lib/clickhouse/user_files /var/lib/clickhouse/format_schemas
chown -R clickhouse:clickhouse /var/lib/clickhouse /var/log/clickhouse-server
exec setpriv --reuid=clickhouse --regid=clickhouse --init-groups \
    /usr/sbin/clickhouse-server --config-file="$conf/config.xml"
