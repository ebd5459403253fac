/** The UI's words in English and Korean; the language comes from the browser. */
const en = {
  appName: 'Chat',
  signIn: 'Sign in', signUp: 'Sign up', email: 'Email', password: 'Password', nickname: 'Nickname',
  haveAccount: 'Have an account? Sign in', noAccount: 'New here? Sign up',
  logout: 'Log out', home: 'Direct messages and groups', rooms: 'Rooms', newChat: 'New chat', newGroup: 'New group',
  searchUsers: 'Search people by name or email', noRooms: 'No rooms yet. Start a chat.', pickRoom: 'Pick a room or start a chat.',
  groupName: 'Group name', private: 'Private', public: 'Public', create: 'Create', cancel: 'Cancel', close: 'Close', save: 'Save',
  invite: 'Invite', members: 'Members', settings: 'Settings', search: 'Search', searchMessages: 'Search messages',
  message: 'Message', send: 'Send', attach: 'Attach a file', reply: 'Reply', edit: 'Edit', delete: 'Delete', react: 'React',
  deleted: 'This message was deleted.', edited: 'edited', typing: 'is typing…', typingMany: 'are typing…',
  readBy: 'Read by', replyingTo: 'Replying to', editing: 'Editing message', older: 'Loading older messages…',
  today: 'Today', yesterday: 'Yesterday', online: 'online', offline: 'offline', you: 'You',
  notifications: 'Notifications for this room', readReceipts: 'Send read receipts', retention: 'Delete messages after (days, empty = keep)',
  enableNotifications: 'Allow browser notifications', roomName: 'Room name', leave: 'Leave room', joinRoom: 'Join a public room by id or link',
  join: 'Join', noResults: 'Nothing found.', uploading: 'Uploading', dropHere: 'Drop files to send them',
  spaces: 'Spaces', newSpace: 'Create a space', spaceName: 'Space name', inviteLink: 'Invite link', copy: 'Copy', joinSpace: 'Join a space with an invite link',
  channels: 'Channels', newChannel: 'New channel', channelName: 'Channel name', role: 'Role', owner: 'owner', admin: 'admin', member: 'member',
  gatewayTitle: 'Signed in through the gateway', gatewaySignIn: 'Sign in at the gateway', profile: 'Profile', bio: 'Bio', avatarUrl: 'Avatar URL',
  back: 'Back', connecting: 'Reconnecting…', errorGeneric: 'Something went wrong', jumpTo: 'Jump to message', mainNav: 'Rooms and spaces',
  removeReaction: 'Remove reaction', addReaction: 'Add reaction', messages: 'Messages',
}
export type Words = typeof en
const ko: Words = {
  appName: '채팅',
  signIn: '로그인', signUp: '회원가입', email: '이메일', password: '비밀번호', nickname: '닉네임',
  haveAccount: '계정이 있나요? 로그인', noAccount: '처음이신가요? 회원가입',
  logout: '로그아웃', home: '대화와 그룹', rooms: '채팅방', newChat: '새 대화', newGroup: '새 그룹',
  searchUsers: '이름이나 이메일로 사람 찾기', noRooms: '아직 채팅방이 없어요. 대화를 시작하세요.', pickRoom: '채팅방을 고르거나 새 대화를 시작하세요.',
  groupName: '그룹 이름', private: '비공개', public: '공개', create: '만들기', cancel: '취소', close: '닫기', save: '저장',
  invite: '초대', members: '멤버', settings: '설정', search: '검색', searchMessages: '메시지 검색',
  message: '메시지', send: '보내기', attach: '파일 첨부', reply: '답장', edit: '수정', delete: '삭제', react: '반응',
  deleted: '삭제된 메시지입니다.', edited: '수정됨', typing: '님이 입력 중…', typingMany: '님이 입력 중…',
  readBy: '읽음', replyingTo: '답장 대상', editing: '메시지 수정 중', older: '이전 메시지 불러오는 중…',
  today: '오늘', yesterday: '어제', online: '온라인', offline: '오프라인', you: '나',
  notifications: '이 채팅방 알림', readReceipts: '읽음 표시 보내기', retention: '메시지 보관 기간 (일, 비우면 계속 보관)',
  enableNotifications: '브라우저 알림 허용', roomName: '채팅방 이름', leave: '채팅방 나가기', joinRoom: '공개 채팅방 id나 링크로 참여',
  join: '참여', noResults: '결과가 없어요.', uploading: '업로드 중', dropHere: '여기에 파일을 놓아 보내세요',
  spaces: '스페이스', newSpace: '스페이스 만들기', spaceName: '스페이스 이름', inviteLink: '초대 링크', copy: '복사', joinSpace: '초대 링크로 스페이스 참여',
  channels: '채널', newChannel: '새 채널', channelName: '채널 이름', role: '역할', owner: '소유자', admin: '관리자', member: '멤버',
  gatewayTitle: '게이트웨이로 로그인됨', gatewaySignIn: '게이트웨이에서 로그인', profile: '프로필', bio: '소개', avatarUrl: '아바타 URL',
  back: '뒤로', connecting: '다시 연결 중…', errorGeneric: '문제가 생겼어요', jumpTo: '메시지로 이동', mainNav: '채팅방과 스페이스',
  removeReaction: '반응 취소', addReaction: '반응 추가', messages: '메시지',
}

export const lang: 'ko' | 'en' = (navigator.languages?.[0] ?? navigator.language ?? 'en').toLowerCase().startsWith('ko') ? 'ko' : 'en'
export const t: Words = lang === 'ko' ? ko : en
document.documentElement.lang = lang
