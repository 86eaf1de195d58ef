#!/bin/sh
# /opt/station/bin/station-kiosk — the login shell of the till user (getty
# autologin): the station, again and again; never a shell prompt.
trap '' INT QUIT TSTP TTIN TTOU
export STATION_HOME="${STATION_HOME:-/var/lib/station}"
while :; do
    /opt/station/bin/station --kiosk
    sleep 1
done
