# The tamper alarm became an instance of modules/alarm: an existing deployment keeps it (moved, not replaced).

moved {
  from = aws_cloudwatch_metric_alarm.tamper
  to   = module.alarm.aws_cloudwatch_metric_alarm.this
}
