"""The embedded local stack that stands in for the cloud: a real Apache Kafka broker
(KRaft, jars from Maven Central) and the fakesnow server. Nothing here needs Docker."""
