; Hardware task switch round trip (SDM Vol. 3A 7.3, 7.4): CALL through a
; task gate to task B (32-bit TSS: its EIP, EAX, ESP are loaded, NT set,
; back link = task A), B returns with IRET (NT): task A resumes after its
; CALL with its own registers from its TSS. EBX/ECX/EDX/ESI record what B
; saw.
; The host's emulator cannot do a far CALL through a task gate (KVM
; switches tasks only on a hardware task-switch exit): internal error there.
; backends: soft
; mode: prot32
; expect: rax=0xaaaa rbx=0x4000 rcx=0x18 rdx=0xbbbb rsi=0x28
; expect-exit: hlt
bits 32
org 0x10000
%define ABS(l) ((l) - $$ + 0x10000)
  lgdt [gdtr]
  mov ax, 0x18
  ltr ax
  mov eax, 0xaaaa
  call 0x28:0
  ; back in task A: B left its results in memory
  mov ebx, [res_flags]
  mov ecx, [res_link]
  mov edx, [res_eax]
  mov esi, [res_busy]
  hlt
task_b:
  mov [res_eax], eax
  pushfd
  pop dword [res_flags]
  and dword [res_flags], 0x4000   ; NT
  movzx edx, word [tss_b]
  mov [res_link], edx
  str dx
  movzx edx, dx
  add edx, 8                      ; TR (0x20) + 8 = 0x28, as a check of STR
  mov [res_busy], edx
  iretd

align 4
res_eax: dd 0
res_flags: dd 0
res_link: dd 0
res_busy: dd 0
align 8
gdt:
  dq 0
  dq 0x00cf9a000000ffff           ; 0x08 code
  dq 0x00cf92000000ffff           ; 0x10 data
  dw 0x67, ABS(tss_a) & 0xffff    ; 0x18 TSS A
  db (ABS(tss_a) >> 16) & 0xff, 0x89, 0, 0
  dw 0x67, ABS(tss_b) & 0xffff    ; 0x20 TSS B
  db (ABS(tss_b) >> 16) & 0xff, 0x89, 0, 0
  dw 0, 0x20, 0x8500, 0           ; 0x28 task gate -> 0x20
gdtr:
  dw gdtr - gdt - 1
  dd gdt
align 4
tss_a:
  times 26 dd 0
align 4
tss_b:
  dd 0, 0, 0, 0, 0, 0, 0          ; link, ESP0..SS2
  dd 0                            ; CR3
  dd ABS(task_b)                  ; EIP
  dd 2                            ; EFLAGS
  dd 0xbbbb, 0, 0, 0, 0x30000, 0, 0, 0   ; EAX..EDI (ESP = 0x30000)
  dd 0x10, 0x08, 0x10, 0x10, 0x10, 0x10  ; ES CS SS DS FS GS
  dd 0, 0                         ; LDT, I/O map
