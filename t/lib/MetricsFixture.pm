package MetricsFixture;
# A daemon whose providers sit in known states, for the /metrics tests:
#   good    - ok; a 5 h window 40 % used (percent), an hours meter 1 of 5
#             with a reset, and a unit with a quote and a backslash;
#   broken  - every collection fails with error class auth;
#   blind   - ok, but its quota meter has no known value at all;
#   over    - ok; used 120 of 100 requests, exhausted until a known reset.
# Families (aliases): alpha = good + broken, beta = blind, gamma = over.
use strict;
use warnings;
use Exporter 'import';
use Meterd qw(start_meterd exec_script tmpdir);

our @EXPORT_OK = qw(start_fixture OVER_RESET GOOD_RESET);

use constant GOOD_RESET => 1893456000;   # 2030-01-01T00:00:00Z
use constant OVER_RESET => 1893459600;   # 2030-01-01T01:00:00Z

sub start_fixture {
    my (%o) = @_;
    my $dir = tmpdir('metrics');
    exec_script($dir, 'good.sh', <<'S');
cat <<'J'
{"status":"ok","metrics":[
 {"id":"five_hour","kind":"quota_window","unit":"percent","utilization":40,"window_seconds":18000},
 {"id":"hours","kind":"quota_window","unit":"hours","used":1,"limit":5,"resets_at":"2030-01-01T00:00:00Z"},
 {"id":"odd","kind":"usage","unit":"k\"b\\s","used":7}]}
J
S
    exec_script($dir, 'broken.sh',
                qq(echo '{"status":"error","error":{"class":"auth","message":"token expired"}}'\n));
    exec_script($dir, 'blind.sh',
                qq(echo '{"status":"ok","metrics":[{"id":"credits","kind":"credits","unit":"usd"}]}'\n));
    exec_script($dir, 'over.sh', <<'S');
echo '{"status":"ok","metrics":[{"id":"requests_day","kind":"rate_limit","unit":"requests","used":120,"limit":100,"resets_at":"2030-01-01T01:00:00Z"}]}'
S
    my $d = start_meterd(dir => $dir, files => { 'aliases.yaml' => <<'Y' }, config => <<'Y2');
families:
  alpha: [good, broken]
  beta: [blind]
  gamma: [over]
Y
listen: 127.0.0.1:0
state_dir: @STATE@
plugin_dir: @ROOT@/plugins
aliases: aliases.yaml
providers:
  good:
    plugin: exec
    interval: 1h
    command: ["@DIR@/good.sh"]
  broken:
    plugin: exec
    interval: 1h
    command: ["@DIR@/broken.sh"]
  blind:
    plugin: exec
    interval: 1h
    command: ["@DIR@/blind.sh"]
  over:
    plugin: exec
    interval: 1h
    command: ["@DIR@/over.sh"]
Y2
    for my $p (qw(good broken blind over)) {
        $d->wait_runs($p, 1, 30) or die "$p did not run";
    }
    return $d;
}

1;
