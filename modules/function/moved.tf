# The Errors and Throttles alarms were two counted calls of modules/alarm before they were one call over
# var.alarms. (The stacks' and the root's moved.tf move older addresses to module.<function>.module.errors[0]
# and .throttles[0]; Terraform follows those moves on to these.)

moved {
  from = module.errors[0]
  to   = module.lambda_metric["Errors"]
}

moved {
  from = module.throttles[0]
  to   = module.lambda_metric["Throttles"]
}
