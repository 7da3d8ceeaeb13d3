<?php
    // The article's ThinkPHP PushEvent class, verbatim: the curl
    // client of web-msg-sender's HTTP push API that msgpushd keeps working.
    namespace Lib\Event;
    class PushEvent
    {
        protected $to_user = '';
        protected $push_api_url = 'http://127.0.0.1:2121/';
        protected $content = '';
        public function setUser($user = '')
        {
            $this->to_user = $user ? : '';
            return $this;
        }
        public function setContent($content = '')
        {
            $this->content = $content;
            return $this;
        }
        public function push()
        {
            $data = [
                'type' => 'publish',
                'content' => $this->content,
                'to' => $this->to_user,
            ];
            $ch = curl_init ();
            curl_setopt($ch, CURLOPT_URL, $this->push_api_url);
            curl_setopt($ch, CURLOPT_POST, 1);
            curl_setopt($ch, CURLOPT_HEADER, 0);
            curl_setopt($ch, CURLOPT_RETURNTRANSFER, 1);
            curl_setopt($ch, CURLOPT_POSTFIELDS, $data);
            curl_setopt($ch, CURLOPT_HTTPHEADER, array('Expect:'));
            $res = curl_exec($ch);
            curl_close($ch);
            dump($res);
        }
    }
