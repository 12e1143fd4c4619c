"""The AWS HTTP APIs of the reference cloud (issue #16): the IoT control plane (`iot`), the
data plane (`iot-data`) and the jobs data plane (`iot-jobs-data`), REST-JSON as botocore speaks
them, so boto3 and aws-cli with `--endpoint-url` work against `buttonrig cloud up`.

* routes.py: requests routed by the services' own models (the ones botocore ships): method and
  `requestUri` template, the SigV4 credential scope picking the service where paths collide;
* codec.py: the request's members decoded and the response encoded by the operation's shapes,
  with botocore's own parser and serializer for the REST-JSON rules;
* dispatch.py: each operation runs the service code the CLI calls (the `Cloud` facade's method
  named after it, or a handler a service registered in rig.cloud.core.operations);
* server.py: the HTTP server on the home's remembered loopback port (`api_url` in endpoint.json).
"""
