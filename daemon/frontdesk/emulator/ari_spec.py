"""The ARI REST surface of Asterisk 22.10.1, one operation per line.

Derived from Asterisk's own Swagger files (`rest-api/api-docs/*.json`, ARI 2.0.0); a test
checks this table against `../shared/asterisk/ari-api-docs` when that folder is present.

Line format: `METHOD /path resource.nickname param...`; a parameter is
`name[@path|@body][:type][*][!][=v1|v2...][~min..max]` (`@` where it goes, default query;
`:type` default string; `*` several values allowed; `!` required; `=` allowed values;
`~` integer range).
"""

OPERATIONS = """
GET /applications applications.list
GET /applications/{applicationName} applications.get applicationName@path!
POST /applications/{applicationName}/subscription applications.subscribe applicationName@path! eventSource*!
DELETE /applications/{applicationName}/subscription applications.unsubscribe applicationName@path! eventSource*!
PUT /applications/{applicationName}/eventFilter applications.filter applicationName@path! filter@body:object
GET /asterisk/config/dynamic/{configClass}/{objectType}/{id} asterisk.getObject configClass@path! objectType@path! id@path!
PUT /asterisk/config/dynamic/{configClass}/{objectType}/{id} asterisk.updateObject configClass@path! objectType@path! id@path! fields@body:containers
DELETE /asterisk/config/dynamic/{configClass}/{objectType}/{id} asterisk.deleteObject configClass@path! objectType@path! id@path!
GET /asterisk/info asterisk.getInfo only*=build|system|config|status
GET /asterisk/ping asterisk.ping
GET /asterisk/modules asterisk.listModules
GET /asterisk/modules/{moduleName} asterisk.getModule moduleName@path!
POST /asterisk/modules/{moduleName} asterisk.loadModule moduleName@path!
DELETE /asterisk/modules/{moduleName} asterisk.unloadModule moduleName@path!
PUT /asterisk/modules/{moduleName} asterisk.reloadModule moduleName@path!
GET /asterisk/logging asterisk.listLogChannels
POST /asterisk/logging/{logChannelName} asterisk.addLog logChannelName@path! configuration!
DELETE /asterisk/logging/{logChannelName} asterisk.deleteLog logChannelName@path!
PUT /asterisk/logging/{logChannelName}/rotate asterisk.rotateLog logChannelName@path!
GET /asterisk/variable asterisk.getGlobalVar variable!
POST /asterisk/variable asterisk.setGlobalVar variable! value
GET /bridges bridges.list
POST /bridges bridges.create type bridgeId name variables@body:containers
POST /bridges/{bridgeId} bridges.createWithId type bridgeId@path! name variables@body:containers
GET /bridges/{bridgeId} bridges.get bridgeId@path!
DELETE /bridges/{bridgeId} bridges.destroy bridgeId@path!
GET /bridges/{bridgeId}/variable bridges.getBridgeVar bridgeId@path! variable!
POST /bridges/{bridgeId}/variable bridges.setBridgeVar bridgeId@path! variable! value report_events:boolean
GET /bridges/{bridgeId}/variables bridges.getBridgeVars bridgeId@path! variables*!
POST /bridges/{bridgeId}/variables bridges.setBridgeVars bridgeId@path! variables@body:containers!
POST /bridges/{bridgeId}/addChannel bridges.addChannel bridgeId@path! channel*! role absorbDTMF:boolean mute:boolean inhibitConnectedLineUpdates:boolean
POST /bridges/{bridgeId}/removeChannel bridges.removeChannel bridgeId@path! channel*!
POST /bridges/{bridgeId}/videoSource/{channelId} bridges.setVideoSource bridgeId@path! channelId@path!
DELETE /bridges/{bridgeId}/videoSource bridges.clearVideoSource bridgeId@path!
POST /bridges/{bridgeId}/moh bridges.startMoh bridgeId@path! mohClass
DELETE /bridges/{bridgeId}/moh bridges.stopMoh bridgeId@path!
POST /bridges/{bridgeId}/play bridges.play bridgeId@path! media*! announcer_format lang offsetms:int~0.. skipms:int~0.. playbackId
POST /bridges/{bridgeId}/play/{playbackId} bridges.playWithId bridgeId@path! playbackId@path! media*! announcer_format lang offsetms:int~0.. skipms:int~0..
POST /bridges/{bridgeId}/record bridges.record bridgeId@path! name! format! recorder_format maxDurationSeconds:int~0.. maxSilenceSeconds:int~0.. ifExists=fail|overwrite|append beep:boolean terminateOn=none|any|*|#
GET /channels channels.list
POST /channels channels.originate endpoint! extension context priority:long label app appArgs callerId timeout:int variables@body:containers channelId otherChannelId originator formats
POST /channels/create channels.create endpoint! app! appArgs channelId otherChannelId originator formats variables@body:containers
GET /channels/{channelId} channels.get channelId@path!
POST /channels/{channelId} channels.originateWithId channelId@path! endpoint! extension context priority:long label app appArgs callerId timeout:int variables@body:containers otherChannelId originator formats
DELETE /channels/{channelId} channels.hangup channelId@path! reason_code reason=normal|busy|congestion|no_answer|timeout|rejected|unallocated|normal_unspecified|number_incomplete|codec_mismatch|interworking|failure|answered_elsewhere
POST /channels/{channelId}/continue channels.continueInDialplan channelId@path! context extension priority:int label
POST /channels/{channelId}/move channels.move channelId@path! app! appArgs
POST /channels/{channelId}/redirect channels.redirect channelId@path! endpoint!
POST /channels/{channelId}/answer channels.answer channelId@path!
POST /channels/{channelId}/ring channels.ring channelId@path!
DELETE /channels/{channelId}/ring channels.ringStop channelId@path!
POST /channels/{channelId}/progress channels.progress channelId@path!
POST /channels/{channelId}/dtmf channels.sendDTMF channelId@path! dtmf before:int between:int duration:int after:int
POST /channels/{channelId}/mute channels.mute channelId@path! direction=both|in|out
DELETE /channels/{channelId}/mute channels.unmute channelId@path! direction=both|in|out
POST /channels/{channelId}/hold channels.hold channelId@path!
DELETE /channels/{channelId}/hold channels.unhold channelId@path!
POST /channels/{channelId}/moh channels.startMoh channelId@path! mohClass
DELETE /channels/{channelId}/moh channels.stopMoh channelId@path!
POST /channels/{channelId}/silence channels.startSilence channelId@path!
DELETE /channels/{channelId}/silence channels.stopSilence channelId@path!
POST /channels/{channelId}/play channels.play channelId@path! media*! lang offsetms:int skipms:int playbackId
POST /channels/{channelId}/play/{playbackId} channels.playWithId channelId@path! playbackId@path! media*! lang offsetms:int skipms:int
POST /channels/{channelId}/record channels.record channelId@path! name! format! maxDurationSeconds:int~0.. maxSilenceSeconds:int~0.. ifExists=fail|overwrite|append beep:boolean terminateOn=none|any|*|#
GET /channels/{channelId}/variable channels.getChannelVar channelId@path! variable!
POST /channels/{channelId}/variable channels.setChannelVar channelId@path! variable! value report_events:boolean
GET /channels/{channelId}/variables channels.getChannelVars channelId@path! variables*!
POST /channels/{channelId}/variables channels.setChannelVars channelId@path! variables@body:containers!
POST /channels/{channelId}/snoop channels.snoopChannel channelId@path! spy=none|both|out|in whisper=none|both|out|in app! appArgs snoopId
POST /channels/{channelId}/snoop/{snoopId} channels.snoopChannelWithId channelId@path! snoopId@path! spy=none|both|out|in whisper=none|both|out|in app! appArgs
POST /channels/{channelId}/dial channels.dial channelId@path! caller timeout:int~0..
GET /channels/{channelId}/rtp_statistics channels.rtpstatistics channelId@path!
POST /channels/externalMedia channels.externalMedia channelId app! variables@body:containers external_host encapsulation=rtp|audiosocket|none transport=udp|tcp|websocket connection_type=client|server format! direction=both data transport_data
POST /channels/{channelId}/transfer_progress channels.transfer_progress channelId@path! states!
GET /deviceStates deviceStates.list
GET /deviceStates/{deviceName} deviceStates.get deviceName@path!
PUT /deviceStates/{deviceName} deviceStates.update deviceName@path! deviceState!=NOT_INUSE|INUSE|BUSY|INVALID|UNAVAILABLE|RINGING|RINGINUSE|ONHOLD
DELETE /deviceStates/{deviceName} deviceStates.delete deviceName@path!
GET /endpoints endpoints.list
PUT /endpoints/sendMessage endpoints.sendMessage to! from! body variables@body:containers
POST /endpoints/refer endpoints.refer to! from! refer_to! to_self:boolean variables@body:containers
GET /endpoints/{tech} endpoints.listByTech tech@path
GET /endpoints/{tech}/{resource} endpoints.get tech@path resource@path
PUT /endpoints/{tech}/{resource}/sendMessage endpoints.sendMessageToEndpoint tech@path resource@path from! body variables@body:containers
POST /endpoints/{tech}/{resource}/refer endpoints.referToEndpoint tech@path resource@path from! refer_to! to_self:boolean variables@body:containers
GET /events events.eventWebsocket app*! subscribeAll:boolean
POST /events/user/{eventName} events.userEvent eventName@path! application! source* variables@body:containers
POST /events/claim events.claimChannel channelId! application!
GET /mailboxes mailboxes.list
GET /mailboxes/{mailboxName} mailboxes.get mailboxName@path!
PUT /mailboxes/{mailboxName} mailboxes.update mailboxName@path! oldMessages:int! newMessages:int!
DELETE /mailboxes/{mailboxName} mailboxes.delete mailboxName@path!
GET /playbacks/{playbackId} playbacks.get playbackId@path!
DELETE /playbacks/{playbackId} playbacks.stop playbackId@path!
POST /playbacks/{playbackId}/control playbacks.control playbackId@path! operation!=restart|pause|unpause|reverse|forward
GET /recordings/stored recordings.listStored
GET /recordings/stored/{recordingName} recordings.getStored recordingName@path!
DELETE /recordings/stored/{recordingName} recordings.deleteStored recordingName@path!
GET /recordings/stored/{recordingName}/file recordings.getStoredFile recordingName@path!
POST /recordings/stored/{recordingName}/copy recordings.copyStored recordingName@path! destinationRecordingName!
GET /recordings/live/{recordingName} recordings.getLive recordingName@path!
DELETE /recordings/live/{recordingName} recordings.cancel recordingName@path!
POST /recordings/live/{recordingName}/stop recordings.stop recordingName@path!
POST /recordings/live/{recordingName}/pause recordings.pause recordingName@path!
DELETE /recordings/live/{recordingName}/pause recordings.unpause recordingName@path!
POST /recordings/live/{recordingName}/mute recordings.mute recordingName@path!
DELETE /recordings/live/{recordingName}/mute recordings.unmute recordingName@path!
GET /sounds sounds.list lang format
GET /sounds/{soundId} sounds.get soundId@path!
"""
