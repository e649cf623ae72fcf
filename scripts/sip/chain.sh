#!/usr/bin/env bash
# Real SIP signalling chain for callvault tests:
#
#   UAC (SIPp, or baresip for TLS) -> kamailio (siptrace -> HEP v3) -> SIPp UAS
#
# kamailio mirrors every SIP message it receives and sends (requests and
# replies, both legs) to a HEP v3 collector at HEP_HOST:HEP_PORT, which the
# caller runs (this script does not start a collector).
#
# Debian packages: sip-tester kamailio kamailio-tls-modules openssl
#                  (+ baresip-core for the tls-* scenarios)
#
# Usage: chain.sh [--option value]...   (every option also reads an env var)
#   --scenario S     plain | sdes | dtls      SIPp UAC over UDP or TCP
#                    tls-sdes | tls-dtls      baresip UAC over TLS (SIPp here has no TLS)
#                                                         (SCENARIO, default plain)
#   --calls N        number of calls                     (CALLS, 10)
#   --rate R         SIPp calls per second               (RATE, 20)
#   --call-ms MS     pause between ACK and BYE (SIPp)    (CALL_MS, 200)
#   --transport T    udp | tcp, UAC -> kamailio (SIPp)   (TRANSPORT, udp)
#   --hep-host H     collector address                   (HEP_HOST, 127.0.0.1)
#   --hep-port P     collector port                      (HEP_PORT, 9060)
#   --hep-transport T udp | tcp                          (HEP_TRANSPORT, udp)
#   --capture-id N   HEP v3 capture agent id             (HEP_CAPTURE_ID, 2001)
#   --auth-key K     HEP v3 auth key chunk, empty = none (HEP_AUTH_KEY, "")
#   --trace-mode M   script | core                       (TRACE_MODE, script)
#   --kam-port P     kamailio UDP+TCP port               (KAM_PORT, 15060)
#   --kam-tls-port P kamailio TLS port                   (KAM_TLS_PORT, 15061)
#   --uas-port P     SIPp UAS port (UDP)                 (UAS_PORT, 15080)
#   --uac-port P     UAC SIP port                        (UAC_PORT, 15090)
#   --media-base P   first media port; uses P..P+299     (MEDIA_BASE, 16000)
#   --workdir D      logs, pid, certs (default: mktemp)  (WORKDIR)
#   --serve          start kamailio + UAS only, print the ports, wait for
#                    SIGINT/SIGTERM (for tests driving their own UAC)
#   --keep           keep the workdir                    (KEEP=1)
# Exit status: 0 = all calls completed, 1 = some call failed, 2 = setup error.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

SCENARIO=${SCENARIO:-plain}
CALLS=${CALLS:-10}
RATE=${RATE:-20}
CALL_MS=${CALL_MS:-200}
TRANSPORT=${TRANSPORT:-udp}
HEP_HOST=${HEP_HOST:-127.0.0.1}
HEP_PORT=${HEP_PORT:-9060}
HEP_TRANSPORT=${HEP_TRANSPORT:-udp}
HEP_CAPTURE_ID=${HEP_CAPTURE_ID:-2001}
HEP_AUTH_KEY=${HEP_AUTH_KEY:-}
TRACE_MODE=${TRACE_MODE:-script}
KAM_PORT=${KAM_PORT:-15060}
KAM_TLS_PORT=${KAM_TLS_PORT:-15061}
UAS_PORT=${UAS_PORT:-15080}
UAC_PORT=${UAC_PORT:-15090}
MEDIA_BASE=${MEDIA_BASE:-16000}
WORKDIR=${WORKDIR:-}
KEEP=${KEEP:-0}
SERVE=0

die() { echo "chain.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--scenario) SCENARIO=$2; shift 2 ;;
	--calls) CALLS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--call-ms) CALL_MS=$2; shift 2 ;;
	--transport) TRANSPORT=$2; shift 2 ;;
	--hep-host) HEP_HOST=$2; shift 2 ;;
	--hep-port) HEP_PORT=$2; shift 2 ;;
	--hep-transport) HEP_TRANSPORT=$2; shift 2 ;;
	--capture-id) HEP_CAPTURE_ID=$2; shift 2 ;;
	--auth-key) HEP_AUTH_KEY=$2; shift 2 ;;
	--trace-mode) TRACE_MODE=$2; shift 2 ;;
	--kam-port) KAM_PORT=$2; shift 2 ;;
	--kam-tls-port) KAM_TLS_PORT=$2; shift 2 ;;
	--uas-port) UAS_PORT=$2; shift 2 ;;
	--uac-port) UAC_PORT=$2; shift 2 ;;
	--media-base) MEDIA_BASE=$2; shift 2 ;;
	--workdir) WORKDIR=$2; shift 2 ;;
	--serve) SERVE=1; shift ;;
	--keep) KEEP=1; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

case "$SCENARIO" in
plain|sdes|dtls) UAC_KIND=sipp ;;
tls-sdes|tls-dtls) UAC_KIND=baresip ;;
*) die "unknown scenario '$SCENARIO'" ;;
esac
case "$TRANSPORT" in udp) SIPP_T=u1 ;; tcp) SIPP_T=t1 ;; *) die "transport must be udp|tcp" ;; esac
case "$HEP_TRANSPORT" in udp) HEP_URI="sip:$HEP_HOST:$HEP_PORT" ;;
	tcp) HEP_URI="sip:$HEP_HOST:$HEP_PORT;transport=tcp" ;;
	*) die "hep transport must be udp|tcp" ;; esac
case "$TRACE_MODE" in script|core) ;; *) die "trace mode must be script|core" ;; esac

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install -y $2)"; }
need kamailio kamailio
need sipp sip-tester
if [ "$UAC_KIND" = baresip ] || [ "$SERVE" = 1 ]; then
	need openssl openssl
fi
[ "$UAC_KIND" = baresip ] && need baresip baresip-core

if [ -z "$WORKDIR" ]; then
	WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/callvault-sip.XXXXXX") || die "mktemp failed"
else
	mkdir -p "$WORKDIR" || die "cannot create $WORKDIR"
fi

KAM_PID=
UAS_PID=
UAC_PID=
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for p in $UAC_PID $UAS_PID $KAM_PID; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $UAC_PID $UAS_PID $KAM_PID; do
		# kamailio's main process takes its children down on SIGTERM
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$KEEP" = 1 ]; then
		echo "chain.sh: logs kept in $WORKDIR" >&2
	else
		rm -rf "$WORKDIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait until a TCP port accepts connections (kamailio also listens on TCP)
wait_tcp() {
	local port=$1 pid=$2
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- kamailio
KAM_ARGS=(-f "$here/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$WORKDIR" -P "$WORKDIR/kamailio.pid"
	-A "KAM_PORT=$KAM_PORT" -A "KAM_TLS_PORT=$KAM_TLS_PORT"
	-A "UAS_URI=\"sip:127.0.0.1:$UAS_PORT\"" -A "HEP_URI=\"$HEP_URI\""
	-A "HEP_CAPTURE_ID=$HEP_CAPTURE_ID")
[ -n "$HEP_AUTH_KEY" ] && KAM_ARGS+=(-A "HEP_AUTH_KEY=\"$HEP_AUTH_KEY\"")
[ "$TRACE_MODE" = core ] && KAM_ARGS+=(-A TRACE_CORE)
if [ "$UAC_KIND" = baresip ] || [ "$SERVE" = 1 ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 \
		-keyout "$WORKDIR/key.pem" -out "$WORKDIR/cert.pem" >"$WORKDIR/openssl.log" 2>&1 ||
		die "openssl failed: $(cat "$WORKDIR/openssl.log")"
	KAM_ARGS+=(-A WITH_TLS -A "TLS_CERT=\"$WORKDIR/cert.pem\"" -A "TLS_KEY=\"$WORKDIR/key.pem\"")
fi
if [ "$(id -u)" = 0 ] && id kamailio >/dev/null 2>&1; then
	# drop root like the Debian service does; the workdir must be writable
	chown kamailio:kamailio "$WORKDIR"
	[ -f "$WORKDIR/key.pem" ] && chown kamailio "$WORKDIR/key.pem"
	KAM_ARGS+=(-u kamailio -g kamailio)
fi
kamailio "${KAM_ARGS[@]}" >"$WORKDIR/kamailio.log" 2>&1 &
KAM_PID=$!
wait_tcp "$KAM_PORT" "$KAM_PID" || {
	tail -20 "$WORKDIR/kamailio.log" >&2
	die "kamailio did not start"
}

# ---------------------------------------------------------------- SIPp UAS
sipp -sf "$here/uas.xml" -i 127.0.0.1 -ci 127.0.0.1 -p "$UAS_PORT" -t u1 -mp "$MEDIA_BASE" \
	-nostdin -trace_err -error_file "$WORKDIR/uas_errors.log" \
	>"$WORKDIR/uas.log" 2>&1 &
UAS_PID=$!
sleep 0.3
kill -0 "$UAS_PID" 2>/dev/null || { cat "$WORKDIR/uas.log" >&2; die "SIPp UAS did not start"; }

if [ "$SERVE" = 1 ]; then
	echo "kamailio udp+tcp 127.0.0.1:$KAM_PORT tls 127.0.0.1:$KAM_TLS_PORT (cert $WORKDIR/cert.pem)"
	echo "uas udp 127.0.0.1:$UAS_PORT; hep -> $HEP_URI; Ctrl-C to stop"
	wait "$KAM_PID"
	exit 0
fi

# ---------------------------------------------------------------- UAC
start=$(date +%s.%N)
rc=0
if [ "$UAC_KIND" = sipp ]; then
	sipp "127.0.0.1:$KAM_PORT" -sf "$here/uac_$SCENARIO.xml" -s uas \
		-i 127.0.0.1 -ci 127.0.0.1 -p "$UAC_PORT" -t "$SIPP_T" -mp "$((MEDIA_BASE + 100))" \
		-m "$CALLS" -r "$RATE" -d "$CALL_MS" -timeout 60s -timeout_error \
		-nostdin -trace_err -error_file "$WORKDIR/uac_errors.log" \
		-trace_stat -stf "$WORKDIR/uac_stat.csv" \
		>"$WORKDIR/uac.log" 2>&1 &
	UAC_PID=$!
	wait "$UAC_PID"
	rc=$?
	UAC_PID=
	ok=$(sed -n 's/^ *Successful call *| *[0-9]* *| *\([0-9]*\).*/\1/p' "$WORKDIR/uac.log" | tail -1)
	failed=$(sed -n 's/^ *Failed call *| *[0-9]* *| *\([0-9]*\).*/\1/p' "$WORKDIR/uac.log" | tail -1)
else
	# baresip 1.0: all calls of a batch dialled at once, hung up (BYE) when
	# -t expires. No audio device: 8 kHz wav file source, aubridge sink.
	bs="$WORKDIR/baresip"
	mkdir -p "$bs"
	python3 - "$bs/tone.wav" <<'EOF' 2>/dev/null || : >"$bs/tone.wav"
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(6.2832 * 440 * i / 8000))) for i in range(8000 * 5)))
EOF
	enc=srtp-mand
	[ "$SCENARIO" = tls-dtls ] && enc=dtls_srtp
	cat >"$bs/config" <<EOF
poll_method		epoll
sip_listen		127.0.0.1:$UAC_PORT
sip_trans_def		tls
net_interface		127.0.0.1
call_local_timeout	10
call_max_calls		32
audio_player		aubridge,nil
audio_source		aufile,$bs/tone.wav
audio_alert		aubridge,nil
rtp_ports		$((MEDIA_BASE + 100))-$((MEDIA_BASE + 299))
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module			srtp.so
module			dtls_srtp.so
module_tmp		account.so
module_app		menu.so
EOF
	echo "<sip:uac@127.0.0.1;transport=tls>;regint=0;mediaenc=$enc;audio_codecs=PCMU" >"$bs/accounts"
	: >"$bs/contacts"
	secs=$(((CALL_MS + 999) / 1000 + 1))
	# baresip accepts at most 16 -e commands: dial in batches of <= 16
	: >"$WORKDIR/uac.log"
	left=$CALLS
	while [ "$left" -gt 0 ]; do
		n=$((left > 16 ? 16 : left))
		left=$((left - n))
		args=()
		for _ in $(seq "$n"); do args+=(-e "/dial sip:uas@127.0.0.1:$KAM_TLS_PORT"); done
		HOME="$bs" timeout $((secs + 20)) baresip -f "$bs" -s "${args[@]}" -t "$secs" \
			</dev/null >>"$WORKDIR/uac.log" 2>&1 &
		UAC_PID=$!
		wait "$UAC_PID"
		UAC_PID=
	done
	ok=$(grep -c 'Call established' "$WORKDIR/uac.log")
	# a completed call ends with the 200 OK to its BYE
	byes=$(grep -c '^CSeq: [0-9]* BYE' "$WORKDIR/uac.log")
	failed=$((CALLS - ok))
	[ "$ok" = "$CALLS" ] && [ "$byes" -ge $((2 * CALLS)) ] || rc=1
fi
end=$(date +%s.%N)
sleep 0.5 # let the last HEP packets leave kamailio

printf 'chain.sh: scenario=%s transport=%s calls=%s ok=%s failed=%s uac_rc=%s elapsed=%.2fs hep=%s\n' \
	"$SCENARIO" "$([ "$UAC_KIND" = sipp ] && echo "$TRANSPORT" || echo tls)" "$CALLS" \
	"${ok:-?}" "${failed:-?}" "$rc" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$HEP_URI"
if [ "$rc" != 0 ]; then
	echo "chain.sh: UAC failed, last lines of $WORKDIR/uac.log:" >&2
	tail -15 "$WORKDIR/uac.log" >&2
	[ -s "$WORKDIR/uac_errors.log" ] && tail -15 "$WORKDIR/uac_errors.log" >&2
	KEEP=1
	exit 1
fi
exit 0
